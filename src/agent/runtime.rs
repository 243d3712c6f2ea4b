//! The agent's main loop.
//!
//! Three activities share one shutdown token:
//! - the heartbeat loop registers the gateway and learns its id and
//!   intervals; its running list (every task this process runs or holds for
//!   a slot) renews those tasks' leases, so it beats at least three times
//!   per lease while tasks are in flight;
//! - the poll loop long-polls for tasks while a slot is free, asking for no
//!   more than it can start (see `Slots`) and taking no more than it asked
//!   for, ignores a second offer of a task it already holds, and spawns a
//!   worker per task;
//! - each worker runs its task and reports, retrying the report while the
//!   control plane is away.
//!
//! On shutdown the poll stops at once, workers get a grace period to reach a
//! resumable point, and a goodbye heartbeat marks the gateway STOPPED.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn, Instrument};

use crate::api::gateway::{
    self, AgentState, HeartbeatRequest, HeartbeatResponse, LeasedTask, PollRequest, ReportRequest,
    ReportResponse, ReportStatus, TaskSpec,
};
use crate::config::GatewayConfig;
use crate::host::{self, TargetRoot};
use crate::transfer::downloader::Downloader;

use super::backoff::Backoff;
use super::client::{ClientError, ControlClient};
use super::identity::{self, Identity};
use super::journal::Journal;
use super::notify;
use super::tasks::{self, Outcome, TaskContext};

/// Slots for tasks other than downloads, so that a get-DB-list task is not
/// stuck behind long downloads.
const EXTRA_TASK_SLOTS: usize = 2;

/// The lease assumed before the control plane has told one (its default).
const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// How long running tasks get to stop after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Retry delays while the control plane is away: back within ~10 s of its return.
fn backoff() -> Backoff {
    Backoff::new(Duration::from_millis(500), Duration::from_secs(10))
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The state dir could not be read or written.
    #[error("state dir {path}: {source}")]
    StateDir {
        /// The state dir.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// The download machinery could not be built.
    #[error("{0}")]
    Transfer(#[from] crate::transfer::TransferError),
}

/// Shared by the loops.
struct Shared {
    config: GatewayConfig,
    identity: Identity,
    client: ControlClient,
    downloader: Downloader,
    journal: Journal,
    /// The id the control plane gave this gateway; None until registered.
    gateway_id: watch::Sender<Option<i64>>,
    /// Tasks this process holds: running, waiting for a slot, or reporting.
    /// A second offer of one of them is ignored; the heartbeat sends them.
    running: Mutex<BTreeSet<u64>>,
    /// Woken when `running` changes (the heartbeat recomputes its delay).
    tasks_changed: Notify,
    /// The lease the control plane grants, in milliseconds (from the last poll).
    lease_ms: AtomicU64,
    /// Download slots and the others.
    slots: Slots,
}

/// The agent's task slots: `max_concurrent` for downloads (the Downloader's
/// own limit, so a download holding one never waits inside it) and
/// [`EXTRA_TASK_SLOTS`] for the other tasks.
///
/// A poll asks for `min(free download slots, free other slots)` tasks, so
/// any mix of kinds starts at once. When one kind has no free slot it asks
/// for one task, which takes a slot of the other kind: a get-DB-list task
/// simply runs in it, a download holds it while it waits for a download
/// slot (its lease kept alive by the heartbeat). Leased tasks are thus
/// bounded by the slots.
struct Slots {
    downloads: Arc<Semaphore>,
    others: Arc<Semaphore>,
    /// Woken when a task gives its slot back.
    freed: Notify,
}

impl Slots {
    fn new(max_concurrent: usize) -> Self {
        Slots {
            downloads: Arc::new(Semaphore::new(max_concurrent.max(1))),
            others: Arc::new(Semaphore::new(EXTRA_TASK_SLOTS)),
            freed: Notify::new(),
        }
    }

    /// How many tasks a poll may ask for now (0: none).
    fn free(&self) -> usize {
        let (downloads, others) = (
            self.downloads.available_permits(),
            self.others.available_permits(),
        );
        match (downloads, others) {
            (0, 0) => 0,
            (0, _) | (_, 0) => 1,
            (d, o) => d.min(o),
        }
    }

    /// Waits until a poll may ask for a task, or shutdown (None).
    async fn wait_free(&self, shutdown: &CancellationToken) -> Option<usize> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let free = self.free();
            if free > 0 {
                return Some(free);
            }
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = freed => {}
            }
        }
    }

    /// A slot for a leased task: one of its kind if free (true), else one
    /// of the other kind (false; see [`Slots`]), else none yet.
    fn take(&self, spec: &TaskSpec) -> Option<(OwnedSemaphorePermit, bool)> {
        let (own, other) = match spec {
            TaskSpec::DownloadBackupSet(_) | TaskSpec::Backup(_) => (&self.downloads, &self.others),
            TaskSpec::GetDbList { .. } | TaskSpec::PreCheck(_) => (&self.others, &self.downloads),
        };
        match own.clone().try_acquire_owned() {
            Ok(permit) => Some((permit, true)),
            Err(_) => other.clone().try_acquire_owned().ok().map(|p| (p, false)),
        }
    }
}

/// Runs the agent until `shutdown` is cancelled.
pub async fn run(config: GatewayConfig, shutdown: CancellationToken) -> Result<(), StartError> {
    let identity = identity::load_or_create(
        &config.gateway.state_dir,
        config.gateway.identifier.as_deref(),
    )
    .map_err(|source| StartError::StateDir {
        path: config.gateway.state_dir.display().to_string(),
        source,
    })?;
    let client = ControlClient::new(&config.control, config.access_key_secret.clone())?;
    let downloader = Downloader::new(config.transfer.clone(), config.sinks.clone())?;
    let journal = Journal::new(&config.gateway.state_dir);
    info!(identifier = %identity.identifier, endpoint = %client.endpoint(), "dbs-gateway starting");
    let shared = Arc::new(Shared {
        identity,
        client,
        downloader,
        journal,
        gateway_id: watch::Sender::new(None),
        running: Mutex::new(BTreeSet::new()),
        tasks_changed: Notify::new(),
        lease_ms: AtomicU64::new(DEFAULT_LEASE.as_millis() as u64),
        slots: Slots::new(config.transfer.max_concurrent),
        config,
    });

    let heartbeat = tokio::spawn(heartbeat_loop(shared.clone(), shutdown.clone()));
    let watchdog = tokio::spawn(watchdog_loop(shutdown.clone()));
    let mut workers = JoinSet::new();
    poll_loop(&shared, &mut workers, &shutdown).await;
    if let Err(error) = notify::stopping() {
        warn!(%error, "telling systemd we are stopping failed");
    }
    let _ = watchdog.await;

    // Shutdown: workers stop at a resumable point, then say goodbye.
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while workers.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!("tasks still running after the grace period; leaving them to their leases");
    }
    let _ = heartbeat.await;
    let _ = tokio::time::timeout(
        Duration::from_secs(3),
        send_heartbeat(&shared, AgentState::Stopping),
    )
    .await;
    info!("dbs-gateway stopped");
    Ok(())
}

async fn send_heartbeat(
    shared: &Shared,
    state: AgentState,
) -> Result<HeartbeatResponse, ClientError> {
    let config = &shared.config;
    let facts = host::collect(config.gateway.internet_ip.clone(), target_roots(config)).await;
    let running: Vec<u64> = shared
        .running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .copied()
        .collect();
    let request = HeartbeatRequest {
        identifier: shared.identity.identifier.clone(),
        display_name: config
            .gateway
            .display_name
            .clone()
            .unwrap_or_else(|| shared.identity.identifier.clone()),
        region: config.gateway.region.clone(),
        state,
        host_facts: facts,
        running_tasks: running.into_iter().map(wire_task_id).collect(),
    };
    shared.client.send(&request, Duration::ZERO).await
}

/// A task id as the control plane numbers it (it handed out this one).
fn wire_task_id(task_id: u64) -> i64 {
    i64::try_from(task_id).unwrap_or(i64::MAX)
}

/// The configured directory targets, whose free space the heartbeat reports.
fn target_roots(config: &GatewayConfig) -> Vec<TargetRoot> {
    let local = config.targets.local.as_ref().map(|t| ("local", &t.root));
    let nas = config.targets.nas.as_ref().map(|t| ("nas", &t.root));
    [local, nas]
        .into_iter()
        .flatten()
        .map(|(location, root)| TargetRoot {
            location: location.into(),
            root: root.clone(),
        })
        .collect()
}

/// How often the running list must reach the control plane to keep the
/// leases of the tasks in flight alive: three times per lease. None when
/// no task is in flight.
fn renew_every(shared: &Shared) -> Option<Duration> {
    let idle = shared
        .running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_empty();
    let lease = Duration::from_millis(shared.lease_ms.load(Ordering::Relaxed));
    (!idle).then(|| (lease / 3).max(Duration::from_millis(500)))
}

/// Heartbeats until shutdown; publishes the gateway id once known.
async fn heartbeat_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut backoff = backoff();
    let mut interval = Duration::from_secs(10);
    let mut failing = false;
    let mut ready_sent = false;
    loop {
        let sent = Instant::now();
        let beat = send_heartbeat(&shared, AgentState::Running)
            .await
            .and_then(|answer| {
                let id = answer.backup_gateway_id.parse::<i64>().map_err(|_| {
                    ClientError::Decode(format!(
                        "BackupGatewayId {:?} is not a number",
                        answer.backup_gateway_id
                    ))
                })?;
                Ok((answer, id))
            });
        if !ready_sent {
            // systemd's READY: the config is loaded and the first heartbeat
            // was attempted (whether the control plane answered or not).
            ready_sent = true;
            if let Err(error) = notify::ready() {
                warn!(%error, "telling systemd we are ready failed");
            }
        }
        let delay = match beat {
            Ok((answer, id)) => {
                if failing {
                    info!("control plane reachable again");
                    failing = false;
                }
                backoff.reset();
                interval = Duration::from_secs(answer.heartbeat_interval_seconds.max(1));
                shared.gateway_id.send_if_modified(|known| {
                    let changed = *known != Some(id);
                    if changed {
                        info!(backup_gateway_id = id, status = %answer.backup_gateway_status, "registered");
                        *known = Some(id);
                    }
                    changed
                });
                interval
            }
            Err(error) => {
                if !failing {
                    warn!(%error, "heartbeat failed; retrying with backoff");
                    failing = true;
                }
                backoff.next_delay().min(interval)
            }
        };
        // Sleep until the next beat is due; a task starting meanwhile may
        // bring it forward.
        loop {
            let changed = shared.tasks_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let due = sent + renew_every(&shared).map_or(delay, |every| delay.min(every));
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(due) => break,
                _ = changed => {}
            }
        }
    }
}

/// Pings systemd's watchdog (`WatchdogSec=`) at half its timeout until
/// shutdown; does nothing when no watchdog is set. A hung runtime stops the
/// pings, and systemd restarts the agent.
async fn watchdog_loop(shutdown: CancellationToken) {
    let Some(every) = notify::watchdog_interval() else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Err(error) = notify::watchdog() {
                    warn!(%error, "systemd watchdog ping failed");
                }
            }
        }
    }
}

/// Long-polls for tasks while a slot is free, until shutdown.
async fn poll_loop(shared: &Arc<Shared>, workers: &mut JoinSet<()>, shutdown: &CancellationToken) {
    let mut gateway_id = shared.gateway_id.subscribe();
    let mut backoff = backoff();
    loop {
        let id = tokio::select! {
            _ = shutdown.cancelled() => return,
            id = gateway_id.wait_for(Option::is_some) => match id {
                Ok(id) => id.unwrap_or_default(),
                Err(_) => return,
            },
        };
        let Some(free) = shared.slots.wait_free(shutdown).await else {
            return;
        };
        let request = PollRequest {
            backup_gateway_id: id,
            wait_seconds: gateway::MAX_POLL_WAIT_SECS,
            max_tasks: free,
        };
        let wait = Duration::from_secs(gateway::MAX_POLL_WAIT_SECS);
        let answer = tokio::select! {
            _ = shutdown.cancelled() => return,
            answer = shared.client.send(&request, wait) => answer,
        };
        match answer {
            Ok(mut poll) => {
                backoff.reset();
                // More than asked for would not fit the slots: those are
                // neither run nor renewed, so their leases lapse and the
                // control plane offers them again.
                let surplus = poll.tasks.split_off(free.min(poll.tasks.len()));
                if !surplus.is_empty() {
                    let left: Vec<u64> = surplus.iter().map(|t| t.task_id).collect();
                    warn!(
                        asked = free,
                        ?left,
                        "the control plane offered more tasks than asked for; the rest are left to their leases"
                    );
                }
                for task in poll.tasks {
                    start_task(shared, workers, shutdown, task);
                }
            }
            Err(error) => {
                warn!(%error, "polling for tasks failed");
                let delay = backoff.next_delay();
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
        while workers.try_join_next().is_some() {}
    }
}

/// Spawns a worker for a leased task, unless this process holds it already
/// (a lease that lapsed while the control plane was away, offered again):
/// then the first run goes on and the offer is ignored.
fn start_task(
    shared: &Arc<Shared>,
    workers: &mut JoinSet<()>,
    shutdown: &CancellationToken,
    task: LeasedTask,
) {
    let span = tracing::info_span!(
        "task",
        task_id = task.task_id,
        kind = task.spec.kind_name(),
        attempt = task.attempt
    );
    if task.lease_seconds > 0 {
        shared
            .lease_ms
            .store(task.lease_seconds * 1000, Ordering::Relaxed);
    }
    if !set_running(shared, task.task_id, true) {
        span.in_scope(|| info!("task offered again while this process holds it; ignored"));
        return;
    }
    let slot = shared.slots.take(&task.spec);
    let shared = shared.clone();
    let cancel = shutdown.child_token();
    workers.spawn(
        async move {
            let task_id = task.task_id;
            if let Some(slots) = wait_for_slot(&shared, &task.spec, slot, &cancel).await {
                run_task(&shared, task, &cancel).await;
                drop(slots);
            }
            set_running(&shared, task_id, false);
            shared.slots.freed.notify_waiters();
        }
        .instrument(span),
    );
}

/// The slot a task runs in: a get-DB-list task runs in the slot it got;
/// a download needs a download slot, and waits for one while it holds a
/// slot of the other kind (its lease kept alive by the heartbeat
/// meanwhile). None on shutdown.
async fn wait_for_slot(
    shared: &Shared,
    spec: &TaskSpec,
    slot: Option<(OwnedSemaphorePermit, bool)>,
    cancel: &CancellationToken,
) -> Option<OwnedSemaphorePermit> {
    let download = matches!(spec, TaskSpec::DownloadBackupSet(_));
    match slot {
        Some((permit, own_kind)) if own_kind || !download => return Some(permit),
        _ => {}
    }
    let slots = &shared.slots;
    let needed = if download {
        &slots.downloads
    } else {
        &slots.others
    };
    info!("waiting for a free slot; the lease is kept alive meanwhile");
    let acquired = tokio::select! {
        _ = cancel.cancelled() => None,
        permit = needed.clone().acquire_owned() => permit.ok(),
    };
    drop(slot);
    slots.freed.notify_waiters();
    acquired
}

/// Runs one task and reports how it ended; a task finished here before
/// (its report was lost) is answered from the journal.
async fn run_task(shared: &Arc<Shared>, task: LeasedTask, cancel: &CancellationToken) {
    let task_id = task.task_id;
    if let Some(result) = shared.journal.finished(task_id) {
        info!("task finished before; reporting the recorded result");
        report_outcome(shared, task_id, Outcome::Done(result), cancel).await;
        return;
    }
    info!("task started");
    let (progress, progress_rx) = watch::channel(None);
    let reporter = tokio::spawn(report_progress(shared.clone(), task_id, progress_rx));
    let ctx = TaskContext {
        config: &shared.config,
        downloader: &shared.downloader,
        control_url: shared.client.endpoint().as_str(),
        progress,
        client: &shared.client,
    };
    let outcome = tasks::execute(&task.spec, &ctx, cancel).await;
    drop(ctx);
    let _ = reporter.await;
    match &outcome {
        Outcome::Done(result) => {
            info!("task finished");
            if let Err(error) = shared.journal.record(task_id, result) {
                warn!(%error, "could not record the finished task in the state dir");
            }
        }
        Outcome::Failed(error) => {
            warn!(code = %error.code, message = %error.message, "task failed")
        }
        Outcome::Interrupted => {
            info!("task interrupted by shutdown; it resumes when offered again")
        }
    }
    report_outcome(shared, task_id, outcome, cancel).await;
}

/// Adds a task to (or removes it from) the tasks this process holds, and
/// wakes the heartbeat; false when adding a task already held.
fn set_running(shared: &Shared, task_id: u64, running: bool) -> bool {
    let changed = {
        let mut set = shared.running.lock().unwrap_or_else(|p| p.into_inner());
        if running {
            set.insert(task_id)
        } else {
            set.remove(&task_id)
        }
    };
    shared.tasks_changed.notify_waiters();
    changed
}

/// Sends each progress update as a `running` report (which renews the
/// lease), until the task's progress sender is dropped.
async fn report_progress(
    shared: Arc<Shared>,
    task_id: u64,
    mut progress: watch::Receiver<Option<Value>>,
) {
    while progress.changed().await.is_ok() {
        let Some(update) = progress.borrow_and_update().clone() else {
            continue;
        };
        let mut request = report_request(&shared, task_id, ReportStatus::Running);
        request.progress = Some(update.to_string());
        if let Err(error) = report(&shared, &request).await {
            tracing::debug!(%error, "progress report not delivered");
        }
    }
}

/// Reports the end of a task, retrying while the control plane is away.
async fn report_outcome(
    shared: &Shared,
    task_id: u64,
    outcome: Outcome,
    cancel: &CancellationToken,
) {
    let request = match outcome {
        Outcome::Done(result) => ReportRequest {
            result: Some(result.to_string()),
            ..report_request(shared, task_id, ReportStatus::Finish)
        },
        Outcome::Failed(error) => ReportRequest {
            err_code: Some(error.code),
            err_message: Some(error.message),
            ..report_request(shared, task_id, ReportStatus::Failed)
        },
        Outcome::Interrupted => return,
    };
    let mut backoff = backoff();
    loop {
        match report(shared, &request).await {
            Ok(_) => {
                shared.journal.forget(task_id);
                return;
            }
            Err(error) if !error.is_retryable() => {
                warn!(%error, "report refused; the task was leased elsewhere or removed");
                shared.journal.forget(task_id);
                return;
            }
            Err(error) => {
                if cancel.is_cancelled() {
                    warn!(%error, "report not delivered before shutdown; the task will be offered again and answered from the journal");
                    return;
                }
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
        }
    }
}

/// A report of `status` on a task of this gateway, carrying nothing yet.
fn report_request(shared: &Shared, task_id: u64, status: ReportStatus) -> ReportRequest {
    // A task comes from a poll, which waited for the id: it is known here.
    let id = shared.gateway_id.borrow().unwrap_or_default();
    ReportRequest::new(id, wire_task_id(task_id), status)
}

/// Sends one `GatewayReportTask`.
async fn report(shared: &Shared, request: &ReportRequest) -> Result<ReportResponse, ClientError> {
    shared.client.send(request, Duration::ZERO).await
}

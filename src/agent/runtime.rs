//! The agent's main loop.
//!
//! Three activities share one shutdown token:
//! - the heartbeat loop registers the gateway and learns its id and intervals;
//! - the poll loop long-polls for tasks while there is capacity (a semaphore
//!   of `max_concurrent` permits) and spawns a worker per task;
//! - each worker runs its task and reports, retrying the report while the
//!   control plane is away.
//!
//! On shutdown the poll stops at once, workers get a grace period to reach a
//! resumable point, and a goodbye heartbeat marks the gateway STOPPED.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn, Instrument};

use crate::api::gateway::{
    self, AgentState, HeartbeatResponse, LeasedTask, PollResponse, ReportResponse, ReportStatus,
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

/// Tasks run at once beyond the download limit, so that a get-DB-list task
/// is not stuck behind long downloads.
const EXTRA_TASK_SLOTS: usize = 2;

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
    gateway_id: watch::Sender<Option<String>>,
    running: Mutex<BTreeSet<u64>>,
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
    let downloader = Downloader::new(config.transfer.clone(), &config.targets)?;
    let journal = Journal::new(&config.gateway.state_dir);
    info!(identifier = %identity.identifier, endpoint = %client.endpoint(), "dbs-gateway starting");
    let shared = Arc::new(Shared {
        config,
        identity,
        client,
        downloader,
        journal,
        gateway_id: watch::Sender::new(None),
        running: Mutex::new(BTreeSet::new()),
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
    let params = [
        ("Identifier", shared.identity.identifier.clone()),
        (
            "DisplayName",
            config
                .gateway
                .display_name
                .clone()
                .unwrap_or_else(|| shared.identity.identifier.clone()),
        ),
        ("Region", config.gateway.region.clone()),
        ("State", state.as_str().to_string()),
        (
            "HostFacts",
            serde_json::to_string(&facts).unwrap_or_default(),
        ),
        (
            "RunningTasks",
            serde_json::to_string(&running).unwrap_or_default(),
        ),
    ];
    shared
        .client
        .call(gateway::HEARTBEAT, &params, Duration::ZERO)
        .await
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

/// Heartbeats until shutdown; publishes the gateway id once known.
async fn heartbeat_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut backoff = backoff();
    let mut interval = Duration::from_secs(10);
    let mut failing = false;
    let mut ready_sent = false;
    loop {
        let beat = send_heartbeat(&shared, AgentState::Running).await;
        if !ready_sent {
            // systemd's READY: the config is loaded and the first heartbeat
            // was attempted (whether the control plane answered or not).
            ready_sent = true;
            if let Err(error) = notify::ready() {
                warn!(%error, "telling systemd we are ready failed");
            }
        }
        let delay = match beat {
            Ok(answer) => {
                if failing {
                    info!("control plane reachable again");
                    failing = false;
                }
                backoff.reset();
                interval = Duration::from_secs(answer.heartbeat_interval_seconds.max(1));
                shared.gateway_id.send_if_modified(|id| {
                    let changed = id.as_deref() != Some(answer.backup_gateway_id.as_str());
                    if changed {
                        info!(backup_gateway_id = %answer.backup_gateway_id, status = %answer.backup_gateway_status, "registered");
                        *id = Some(answer.backup_gateway_id.clone());
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
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
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

/// Long-polls for tasks while there is capacity, until shutdown.
async fn poll_loop(shared: &Arc<Shared>, workers: &mut JoinSet<()>, shutdown: &CancellationToken) {
    let mut gateway_id = shared.gateway_id.subscribe();
    let slots = Arc::new(Semaphore::new(
        shared.config.transfer.max_concurrent + EXTRA_TASK_SLOTS,
    ));
    let mut backoff = backoff();
    loop {
        let id = tokio::select! {
            _ = shutdown.cancelled() => return,
            id = gateway_id.wait_for(Option::is_some) => match id {
                Ok(id) => id.clone().unwrap_or_default(),
                Err(_) => return,
            },
        };
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let free = 1 + slots.available_permits();
        let params = [
            ("BackupGatewayId", id),
            ("WaitSeconds", gateway::MAX_POLL_WAIT_SECS.to_string()),
            ("MaxTasks", free.to_string()),
        ];
        let wait = Duration::from_secs(gateway::MAX_POLL_WAIT_SECS);
        let answer = tokio::select! {
            _ = shutdown.cancelled() => return,
            answer = shared.client.call::<PollResponse>(gateway::POLL_TASKS, &params, wait) => answer,
        };
        match answer {
            Ok(poll) => {
                backoff.reset();
                let mut permits = vec![first];
                for task in poll.tasks {
                    let permit = match permits.pop() {
                        Some(p) => p,
                        None => slots
                            .clone()
                            .try_acquire_owned()
                            .expect("the poll asked for no more tasks than free slots"),
                    };
                    let shared = shared.clone();
                    let cancel = shutdown.child_token();
                    let span = tracing::info_span!(
                        "task",
                        task_id = task.task_id,
                        kind = tasks::kind(&task.spec),
                        attempt = task.attempt
                    );
                    workers.spawn(
                        async move {
                            run_task(shared, task, &cancel).await;
                            drop(permit);
                        }
                        .instrument(span),
                    );
                }
            }
            Err(error) => {
                drop(first);
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

/// Runs one task and reports how it ended; a task finished here before
/// (its report was lost) is answered from the journal.
async fn run_task(shared: Arc<Shared>, task: LeasedTask, cancel: &CancellationToken) {
    let task_id = task.task_id;
    if let Some(result) = shared.journal.finished(task_id) {
        info!("task finished before; reporting the recorded result");
        report_outcome(&shared, task_id, Outcome::Done(result), cancel).await;
        return;
    }
    set_running(&shared, task_id, true);
    info!("task started");
    let (progress, progress_rx) = watch::channel(None);
    let reporter = tokio::spawn(report_progress(shared.clone(), task_id, progress_rx));
    let control_host = shared
        .client
        .endpoint()
        .host_str()
        .unwrap_or_default()
        .to_string();
    let ctx = TaskContext {
        config: &shared.config,
        downloader: &shared.downloader,
        control_host: &control_host,
        progress,
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
    report_outcome(&shared, task_id, outcome, cancel).await;
    set_running(&shared, task_id, false);
}

fn set_running(shared: &Shared, task_id: u64, running: bool) {
    let mut set = shared.running.lock().unwrap_or_else(|p| p.into_inner());
    if running {
        set.insert(task_id);
    } else {
        set.remove(&task_id);
    }
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
        let params = [
            ("TaskId", task_id.to_string()),
            ("Status", ReportStatus::Running.as_str().to_string()),
            ("Progress", update.to_string()),
        ];
        if let Err(error) = report(&shared, &params).await {
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
    let mut params = vec![("TaskId", task_id.to_string())];
    match outcome {
        Outcome::Done(result) => {
            params.push(("Status", ReportStatus::Finish.as_str().into()));
            params.push(("Result", result.to_string()));
        }
        Outcome::Failed(error) => {
            params.push(("Status", ReportStatus::Failed.as_str().into()));
            params.push(("ErrCode", error.code));
            params.push(("ErrMessage", error.message));
        }
        Outcome::Interrupted => return,
    }
    let mut backoff = backoff();
    loop {
        match report(shared, &params).await {
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

/// Sends one `GatewayReportTask` for this gateway.
async fn report(shared: &Shared, params: &[(&str, String)]) -> Result<ReportResponse, ClientError> {
    // A task comes from a poll, which waited for the id: it is known here.
    let id = shared.gateway_id.borrow().clone().unwrap_or_default();
    let mut all = vec![("BackupGatewayId", id)];
    all.extend(params.iter().cloned());
    shared
        .client
        .call(gateway::REPORT_TASK, &all, Duration::ZERO)
        .await
}

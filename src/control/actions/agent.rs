//! The gateway actions: heartbeat, long-poll for tasks, report a task.
//!
//! Only gateway keys reach these handlers, and each acts for the key's own
//! gateway: a heartbeat binds an unbound key to its identifier, and polls
//! and reports must name that gateway's id.

use std::time::Duration;

use serde_json::Value;

use crate::api::gateway::{
    AgentState, BackupSpec, HeartbeatRequest, HeartbeatResponse, LeasedTask, PollRequest,
    PollResponse, ReportRequest, ReportResponse, ReportStatus, TaskSpec,
};
use crate::api::ApiError;
use crate::control::call::Call;
use crate::control::catalog::{meta, names, runs, sets};
use crate::control::gateways::{self, Heartbeat};
use crate::control::keys::{self, Binding};
use crate::control::tasks::{self, Report, ReportRefused};
use crate::control::{set_url, store, ControlPlane};

/// Error code of a backup task that reports a finish whose set is not
/// recorded (with the reported size and CRC64).
const SET_NOT_RECORDED: &str = "Backup.SetNotRecorded";

/// Most tasks one poll leases.
const MAX_TASKS_PER_POLL: usize = 16;

/// How often a waiting poll looks for lapsed leases on its own.
const POLL_RECHECK: Duration = Duration::from_secs(5);

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("answers serialize")
}

/// Registers or refreshes the key's own gateway.
pub async fn heartbeat(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let request = HeartbeatRequest::from_params(&call.params(), &plane.settings.regions)?;
    bind_key(plane, call, &request.identifier).await?;
    let hb = Heartbeat {
        display_name: request.display_name,
        identifier: request.identifier,
        region: request.region,
        facts: request.host_facts,
        stopping: request.state == AgentState::Stopping,
    };
    // The tasks the agent runs or holds for a slot: their leases are renewed.
    let running = request.running_tasks;
    let lease_ms = plane.settings.task_lease.as_millis() as i64;
    let now = store::now_ms();
    let gateway = plane
        .store
        .call(move |c| {
            let gateway = gateways::record_heartbeat(c, &hb, now)?;
            tasks::renew(c, gateway.id, &running, lease_ms, now)?;
            Ok(gateway)
        })
        .await
        .map_err(super::internal)?;
    // Only the heartbeat that made the row has it created now.
    let known = gateway.created_ms != now;
    if !known || gateway.stopped {
        tracing::info!(
            access_key_id = %call.caller.access_key_id,
            backup_gateway_id = gateway.id,
            identifier = %gateway.identifier,
            stopped = gateway.stopped,
            "gateway {}",
            if known { "stopped" } else { "registered" }
        );
    }
    let settings = &plane.settings;
    Ok(to_json(&HeartbeatResponse {
        request_id: call.request_id.clone(),
        backup_gateway_id: gateway.id.to_string(),
        backup_gateway_status: gateway
            .status(now, settings.offline_after.as_millis() as i64)
            .to_string(),
        heartbeat_interval_seconds: settings.heartbeat_interval.as_secs(),
        poll_wait_seconds: settings.poll_wait.as_secs(),
    }))
}

/// A registered gateway, or `BackupGateway.NotFound`.
pub async fn gateway_by_id(plane: &ControlPlane, id: i64) -> Result<gateways::Gateway, ApiError> {
    plane
        .store
        .call(move |c| gateways::get(c, id))
        .await
        .map_err(super::internal)?
        .ok_or_else(|| {
            ApiError::not_found(
                "BackupGateway.NotFound",
                format!("Backup gateway {id} is not registered."),
            )
        })
}

/// Binds the caller's key to `identifier` on its first heartbeat; refuses a
/// key bound to another gateway, and an identifier another key holds.
async fn bind_key(plane: &ControlPlane, call: &Call, identifier: &str) -> Result<(), ApiError> {
    if call.caller.gateway.as_deref() == Some(identifier) {
        return Ok(());
    }
    let key_id = call.caller.access_key_id.clone();
    let wanted = identifier.to_string();
    let binding = plane
        .store
        .call(move |c| keys::bind(c, &key_id, &wanted))
        .await
        .map_err(super::internal)?;
    match binding {
        Binding::Bound => Ok(()),
        Binding::OtherGateway(own) => Err(ApiError::new(
            403,
            "Forbidden.NotYourGateway",
            format!("This AccessKey belongs to gateway {own}, not {identifier}."),
        )),
        Binding::Taken => Err(ApiError::new(
            403,
            "Forbidden.NotYourGateway",
            format!("Gateway {identifier} belongs to another AccessKey; create a key for a new gateway with dbs-control access-key create --gateway IDENTIFIER."),
        )),
    }
}

/// Leases queued tasks, waiting up to `WaitSeconds` for one to arrive.
pub async fn poll_tasks(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let request = PollRequest::from_params(&call.params())?;
    let gateway_id = super::own_gateway(plane, call, request.backup_gateway_id).await?;
    let wait = Duration::from_secs(request.wait_seconds).min(plane.settings.poll_wait);
    let max = request.max_tasks.clamp(1, MAX_TASKS_PER_POLL);
    let lease_ms = plane.settings.task_lease.as_millis() as i64;
    let deadline = tokio::time::Instant::now() + wait;
    let notify = plane.notifier.of(gateway_id);
    loop {
        // Register interest before looking, so a task queued in between wakes us.
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = store::now_ms();
        let leased = plane
            .store
            .call(move |c| tasks::lease(c, gateway_id, max, lease_ms, now))
            .await
            .map_err(super::internal)?;
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !leased.is_empty() || remaining.is_zero() {
            if !leased.is_empty() {
                let ids: Vec<u64> = leased.iter().map(|t| t.task_id).collect();
                tracing::info!(access_key_id = %call.caller.access_key_id, backup_gateway_id = gateway_id, task_ids = ?ids, "tasks leased");
            }
            return Ok(to_json(&PollResponse {
                request_id: call.request_id.clone(),
                tasks: refresh_urls(plane, leased).await?,
            }));
        }
        tokio::select! {
            _ = tokio::time::timeout(remaining.min(POLL_RECHECK), notified) => {}
            _ = plane.shutdown.cancelled() => {
                return Ok(to_json(&PollResponse {
                    request_id: call.request_id.clone(),
                    tasks: Vec::new(),
                }));
            }
        }
    }
}

/// Gives every leased DownloadBackupSet task a URL signed now, valid for
/// [`set_url::TASK_URL_TTL`], on this server's public URL: a task queued
/// long ago (or by the admin CLI before `serve` knew its address) still
/// gets a live URL.
async fn refresh_urls(
    plane: &ControlPlane,
    mut leased: Vec<LeasedTask>,
) -> Result<Vec<LeasedTask>, ApiError> {
    if !leased
        .iter()
        .any(|t| matches!(t.spec, TaskSpec::DownloadBackupSet(_)))
    {
        return Ok(leased);
    }
    let key = plane
        .store
        .call(|c| meta::signing_key(c))
        .await
        .map_err(super::internal)?;
    let now = store::now_ms();
    let base = plane.settings.public_url.as_deref();
    for task in &mut leased {
        if let TaskSpec::DownloadBackupSet(spec) = &mut task.spec {
            spec.url =
                set_url::signed_url(&key, base, &spec.backup_set_id, now, set_url::TASK_URL_TTL);
        }
    }
    Ok(leased)
}

/// Records progress, a result or a failure of a leased task.
pub async fn report_task(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let request = ReportRequest::from_params(&call.params())?;
    let gateway_id = super::own_gateway(plane, call, request.backup_gateway_id).await?;
    let ReportRequest {
        task_id,
        status,
        progress,
        result,
        err_code,
        err_message,
        ..
    } = request;
    let lease_ms = plane.settings.task_lease.as_millis() as i64;
    let now = store::now_ms();
    let outcome = plane
        .store
        .call(move |c| {
            let mut report = Report {
                status,
                progress: progress.as_deref(),
                result: result.as_deref(),
                err_code: err_code.as_deref(),
                err_message: err_message.as_deref(),
            };
            let backup = backup_of(c, gateway_id, task_id)?;
            let refusal = match (&backup, status) {
                (Some(spec), ReportStatus::Finish) => {
                    runs::check_finish(c, spec, report.result)?.err()
                }
                _ => None,
            };
            if let Some(message) = &refusal {
                tracing::warn!(task_id, %message, "backup finish refused");
                report = Report {
                    status: ReportStatus::Failed,
                    result: None,
                    err_code: Some(SET_NOT_RECORDED),
                    err_message: Some(message),
                    ..report
                };
            }
            let outcome = tasks::report(c, gateway_id, task_id, &report, lease_ms, now)?;
            if let (Some(spec), Ok(()), ReportStatus::Failed) = (&backup, &outcome, report.status) {
                remove_upload(c, &spec.backup_set_id);
            }
            Ok(outcome)
        })
        .await
        .map_err(super::internal)?;
    if outcome.is_ok() && status != ReportStatus::Running {
        tracing::info!(
            access_key_id = %call.caller.access_key_id,
            backup_gateway_id = gateway_id,
            task_id,
            status = status.as_str(),
            "task reported"
        );
    }
    match outcome {
        Ok(()) => Ok(to_json(&ReportResponse {
            request_id: call.request_id.clone(),
            lease_seconds: plane.settings.task_lease.as_secs(),
        })),
        Err(ReportRefused::NotFound) => Err(ApiError::not_found(
            "Task.NotFound",
            format!("Task {task_id} is not a task of gateway {gateway_id}."),
        )),
        Err(ReportRefused::NotRunning) => Err(ApiError::new(
            409,
            "Task.NotRunning",
            format!("Task {task_id} is not leased to this gateway any more."),
        )),
    }
}

/// The spec of `task_id` when it is a backup task of `gateway_id`.
fn backup_of(
    conn: &rusqlite::Connection,
    gateway_id: i64,
    task_id: i64,
) -> rusqlite::Result<Option<BackupSpec>> {
    Ok(tasks::get(conn, task_id)?
        .filter(|t| t.gateway_id == gateway_id)
        .and_then(|t| match t.spec {
            TaskSpec::Backup(spec) => Some(spec),
            _ => None,
        }))
}

/// Removes the upload in progress of a backup whose task failed for good.
fn remove_upload(conn: &rusqlite::Connection, set_id: &str) {
    let (Some(data_dir), Ok(_)) = (sets::data_dir_of(conn), names::set_id(set_id)) else {
        return;
    };
    let part = runs::part_file(&data_dir, set_id);
    match std::fs::remove_file(&part) {
        Ok(()) => tracing::info!(set = set_id, "part of a failed upload removed"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(set = set_id, error = %e, "part of a failed upload not removed"),
    }
}

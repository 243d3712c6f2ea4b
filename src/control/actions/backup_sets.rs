//! DescribeFullBackupList and DescribeIncrementBackupList: the sets of a
//! plan, newest first, one page at a time, in the SDK models' fields.
//!
//! The catalog knows a set's id, size, name, checksum and the times it was
//! copied in; fields about the backup job itself (source endpoint, backup
//! objects, encryption) are omitted. A full set of a plan with a retention
//! period shows when it expires (`BackupSetExpiredTime`).
//!
//! The full list also shows, newest first and before the sets, the backups
//! a gateway was asked for whose set is not in the catalog yet: `running`
//! while their task waits or runs (with `ShowProgress=true`, `BackupSize`
//! is the bytes uploaded so far), `failed` with the task's `ErrCode` and
//! `ErrMessage`. A set being uploaded is never listed as `finish`.

use serde_json::{json, Value};

use crate::api::gateway::SetKind;
use crate::api::ApiError;
use crate::control::call::Call;
use crate::control::catalog::{plans, retention, runs, sets};
use crate::control::tasks::Task;
use crate::control::ControlPlane;

/// Page sizes the API accepts.
const PAGE_SIZES: [usize; 3] = [30, 50, 100];

/// `BackupStatus` of a registered full set: its bytes are complete.
const SET_STATUS: &str = "finish";

/// `BackupStatus` of a backup whose task waits for its gateway (the
/// documents' "initializing").
const QUEUED_STATUS: &str = "schedule";

/// `BackupStatus` of a backup whose task runs.
const RUN_STATUS: &str = "running";

/// `BackupStatus` of a backup whose task failed (the documents' word).
const FAILED_STATUS: &str = "stop";

/// `BackupStatus` of a registered incremental set, in the words the
/// documents give increments (`INIT`, `FILLING`, `COMPLETED`, `UNCOMPLETED`).
const INCREMENT_STATUS: &str = "COMPLETED";

/// `StorageMethod` of every set: kept on dbs-control's disk, ready at once.
const STORAGE_METHOD: &str = "Standard";

/// `(PageNum, PageSize)`: PageNum from 0 (default 0), PageSize 30, 50 or 100
/// (default 30).
pub(super) fn paging(call: &Call) -> Result<(usize, usize), ApiError> {
    let page_size = call.parse::<usize>("PageSize")?.unwrap_or(30);
    if !PAGE_SIZES.contains(&page_size) {
        return Err(ApiError::invalid("PageSize", "must be 30, 50 or 100"));
    }
    Ok((call.parse::<usize>("PageNum")?.unwrap_or(0), page_size))
}

/// The plan named by `BackupPlanId`, or `BackupPlan.NotFound`.
pub(super) async fn known_plan(plane: &ControlPlane, id: &str) -> Result<plans::Plan, ApiError> {
    let owned = id.to_string();
    plane
        .store
        .call(move |c| plans::get(c, &owned))
        .await
        .map_err(super::internal)?
        .ok_or_else(|| {
            ApiError::not_found(
                "BackupPlan.NotFound",
                format!("Backup plan {id} does not exist; sets enter plans with `dbs-control backup-set add`."),
            )
        })
}

/// The page envelope of a list answer.
pub(super) fn page(items: Value, page_num: usize, page_size: usize, total: usize) -> Value {
    json!({
        "Items": items,
        "PageNum": page_num,
        "PageSize": page_size,
        "TotalElements": total,
        "TotalPages": total.div_ceil(page_size),
    })
}

async fn list(plane: &ControlPlane, call: &Call, kind: SetKind) -> Result<Value, ApiError> {
    let plan = known_plan(plane, call.require("BackupPlanId")?).await?;
    let (page_num, page_size) = paging(call)?;
    let seconds = |name| -> Result<Option<i64>, ApiError> {
        Ok(call.parse::<i64>(name)?.map(|s| s.saturating_mul(1000)))
    };
    let filter = sets::Filter {
        set_id: match kind {
            SetKind::Full => call.get("BackupSetId").map(str::to_string),
            SetKind::Increment => None,
        },
        start_from_ms: seconds("StartTimestamp")?,
        end_until_ms: seconds("EndTimestamp")?,
    };
    let (with_sets, states): (bool, Vec<&'static str>) = match kind {
        SetKind::Increment => (true, Vec::new()),
        SetKind::Full => match call.get("BackupSetStatus") {
            None => (true, vec!["queued", "running", "failed"]),
            Some(SET_STATUS) => (true, Vec::new()),
            Some(QUEUED_STATUS) => (false, vec!["queued"]),
            Some(RUN_STATUS) => (false, vec!["running"]),
            Some(FAILED_STATUS) => (false, vec!["failed"]),
            Some(_) => (false, Vec::new()),
        },
    };
    let pending = runs::PendingFilter {
        states,
        set_id: filter.set_id.clone(),
        from_ms: filter.start_from_ms,
        until_ms: filter.end_until_ms,
    };
    let show_progress = call
        .get("ShowProgress")
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let offset = page_num.saturating_mul(page_size);
    let plan_id = plan.id.clone();
    let (found_runs, run_total, found_sets, set_total) = plane
        .store
        .call(move |c| {
            let (found_runs, run_total) = if pending.states.is_empty() {
                (Vec::new(), 0)
            } else {
                runs::without_set(c, &plan_id, &pending, offset, page_size)?
            };
            let (found_sets, set_total) = if with_sets {
                let room = page_size - found_runs.len();
                let from = offset.saturating_sub(run_total);
                sets::list(c, &plan_id, kind, &filter, from, room)?
            } else {
                (Vec::new(), 0)
            };
            Ok((found_runs, run_total, found_sets, set_total))
        })
        .await
        .map_err(super::internal)?;
    let mut items: Vec<Value> = found_runs
        .iter()
        .map(|(run, task)| run_item(run, task, show_progress))
        .collect();
    items.extend(found_sets.iter().map(|s| set_item(s, kind, &plan)));
    let items = match kind {
        SetKind::Full => json!({ "FullBackupFile": items }),
        SetKind::Increment => json!({ "IncrementBackupFile": items }),
    };
    Ok(page(items, page_num, page_size, run_total + set_total))
}

/// A backup without its set yet, as the full list shows it.
fn run_item(run: &runs::Run, task: &Task, show_progress: bool) -> Value {
    let mut item = json!({
        "BackupSetId": run.set_id,
        "CreateTime": run.created_ms,
        "StartTime": task.started_ms.unwrap_or(run.created_ms),
        // Beside the SDK fields: how the backup was asked for.
        "BackupMethod": run.method,
        "BackupTrigger": run.trigger,
        "BackupGatewayId": run.gateway_id,
    });
    if task.state == "failed" {
        item["BackupStatus"] = FAILED_STATUS.into();
        item["EndTime"] = task.updated_ms.into();
        item["FinishTime"] = task.updated_ms.into();
        item["ErrCode"] = task.err_code.clone().unwrap_or_default().into();
        item["ErrMessage"] = task.err_message.clone().unwrap_or_default().into();
    } else {
        item["BackupStatus"] = if task.state == "queued" {
            QUEUED_STATUS
        } else {
            RUN_STATUS
        }
        .into();
        if show_progress {
            let done = task
                .progress
                .as_ref()
                .and_then(|p| p.get("BytesDone"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            item["BackupSize"] = done.into();
        }
    }
    item
}

/// A set as its list shows it. An increment is shown as the documents show
/// one: `BackupSetId` is its file name and `BackupSetJobId` the id that
/// CreateIncrementBackupSetDownload takes as `BackupSetId` (with the file
/// name as `BackupSetName`).
fn set_item(set: &sets::BackupSet, kind: SetKind, plan: &plans::Plan) -> Value {
    let (id, status) = match kind {
        SetKind::Full => (set.id.as_str(), SET_STATUS),
        SetKind::Increment => (set.name.as_str(), INCREMENT_STATUS),
    };
    let mut item = json!({
        "BackupSetId": id,
        "BackupSize": set.size,
        "BackupStatus": status,
        "StartTime": set.start_ms,
        "EndTime": set.end_ms,
        "StorageMethod": STORAGE_METHOD,
        // Beside the SDK fields: what a download needs to know.
        "BackupSetName": set.name,
        "BackupSetDbType": set.db_type,
        "BackupSetSHA256": set.sha256,
        "BackupSetCRC64": set.crc64,
    });
    match kind {
        SetKind::Full => {
            item["FinishTime"] = set.end_ms.into();
            item["CreateTime"] = set.created_ms.into();
            if let Some(expires) = retention::expires_at(set.end_ms, plan.retention_days) {
                item["BackupSetExpiredTime"] = expires.into();
            }
        }
        SetKind::Increment => item["BackupSetJobId"] = set.job_id().into(),
    }
    item
}

/// DescribeFullBackupList.
pub async fn describe_full_backup_list(
    plane: &ControlPlane,
    call: &Call,
) -> Result<Value, ApiError> {
    list(plane, call, SetKind::Full).await
}

/// DescribeIncrementBackupList.
pub async fn describe_increment_backup_list(
    plane: &ControlPlane,
    call: &Call,
) -> Result<Value, ApiError> {
    list(plane, call, SetKind::Increment).await
}

//! DescribePreCheckProgressList for a backup plan: the items of the plan's
//! last pre-check task (queued by ConfigureBackupPlan and
//! ModifyBackupSourceEndpoint, run by the gateway) in the SDK's shape.
//!
//! `Status` is `running` while the task waits or runs (no items yet),
//! `finish` when every check passed, `failed` when one failed or the task
//! itself failed (then one item, `PreCheck`, carries its code and message).
//! An item's `State` is `finish` or `failed`; `ErrMsg` says what was found
//! and `ErrCode` (beside the SDK fields) is the failed check's code.

use serde_json::{json, Value};

use crate::api::gateway::PreCheckResult;
use crate::api::ApiError;
use crate::control::call::Call;
use crate::control::{tasks, ControlPlane};

/// DescribePreCheckProgressList.
pub async fn describe_pre_check_progress_list(
    plane: &ControlPlane,
    call: &Call,
) -> Result<Value, ApiError> {
    let Some(id) = call.get("BackupPlanId") else {
        if call.get("RestoreTaskId").is_some() {
            return Err(ApiError::invalid(
                "RestoreTaskId",
                "restore tasks are not run by this control plane; give BackupPlanId",
            ));
        }
        return Err(ApiError::missing("BackupPlanId"));
    };
    let plan = super::backup_sets::known_plan(plane, id).await?;
    let Some(task_id) = plan.precheck_task_id else {
        return Err(ApiError::not_found(
            "PreCheck.NotFound",
            format!("Backup plan {id} has no pre-check yet; ConfigureBackupPlan queues one."),
        ));
    };
    let task = plane
        .store
        .call(move |c| tasks::get(c, task_id))
        .await
        .map_err(super::internal)?
        .ok_or_else(ApiError::internal)?;
    Ok(answer(&task))
}

fn answer(task: &tasks::Task) -> Value {
    let job_id = task.id.to_string();
    let boot = task.started_ms.unwrap_or(task.created_ms);
    let detail = |order: usize, name: &str, failed: bool, code: Option<&str>, message: &str| {
        let mut item = json!({
            "JobId": job_id,
            "OrderNum": ((order + 1) * 10).to_string(),
            "Names": name,
            "Item": name,
            "State": if failed { "failed" } else { "finish" },
            "BootTime": boot,
            "FinishTime": task.updated_ms,
        });
        if failed {
            item["ErrMsg"] = message.into();
            if let Some(code) = code {
                item["ErrCode"] = code.into();
            }
        } else {
            item["Message"] = message.into();
        }
        item
    };
    let (status, items) = match task.state.as_str() {
        "finish" => {
            let result: PreCheckResult = task
                .result
                .clone()
                .and_then(|r| serde_json::from_value(r).ok())
                .unwrap_or_default();
            let failed = result.items.iter().any(|i| i.code.is_some());
            let items: Vec<Value> = result
                .items
                .iter()
                .enumerate()
                .map(|(n, i)| detail(n, &i.name, i.code.is_some(), i.code.as_deref(), &i.message))
                .collect();
            (if failed { "failed" } else { "finish" }, items)
        }
        "failed" => (
            "failed",
            vec![detail(
                0,
                "PreCheck",
                true,
                task.err_code.as_deref(),
                task.err_message.as_deref().unwrap_or_default(),
            )],
        ),
        _ => ("running", Vec::new()),
    };
    json!({
        "Status": status,
        "Progress": if status == "running" { 0 } else { 100 },
        "Items": { "PreCheckProgressDetail": items },
    })
}

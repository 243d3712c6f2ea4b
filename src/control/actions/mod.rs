//! Action handlers, one file per concern, and the table that routes an
//! action name to its handler.

mod agent;
mod backup_sets;
mod dblist;
mod downloads;
mod gateways;
mod regions;

use serde_json::Value;

use crate::api::{gateway, ApiError};

use super::call::Call;
use super::ControlPlane;

/// Runs the handler of `call.action`.
pub async fn dispatch(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    match call.action.as_str() {
        "DescribeRegions" => regions::describe_regions(plane),
        "DescribeBackupGatewayList" => gateways::describe_backup_gateway_list(plane, call).await,
        "CreateGetDBListFromAgentTask" => dblist::create_task(plane, call).await,
        "GetDBListFromAgent" => dblist::get_result(plane, call).await,
        "DescribeFullBackupList" => backup_sets::describe_full_backup_list(plane, call).await,
        "DescribeIncrementBackupList" => {
            backup_sets::describe_increment_backup_list(plane, call).await
        }
        "ModifyBackupSetDownloadRules" => downloads::modify_rules(plane, call).await,
        "CreateFullBackupSetDownload" => downloads::create_full(plane, call).await,
        "CreateIncrementBackupSetDownload" => downloads::create_increment(plane, call).await,
        "DescribeBackupSetDownloadTaskList" => downloads::describe_task_list(plane, call).await,
        gateway::HEARTBEAT => agent::heartbeat(plane, call).await,
        gateway::POLL_TASKS => agent::poll_tasks(plane, call).await,
        gateway::REPORT_TASK => agent::report_task(plane, call).await,
        other => Err(ApiError::not_found(
            "InvalidAction.NotFound",
            format!("Specified api {other} is not found, please check your url and method."),
        )),
    }
}

/// Maps a store failure to a generic internal error, logging the cause.
pub(crate) fn internal(error: rusqlite::Error) -> ApiError {
    tracing::error!(%error, "store failure");
    ApiError::internal()
}

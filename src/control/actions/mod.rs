//! Action handlers, one file per concern, and the table that routes an
//! action name to its handler after checking the caller's role: user keys
//! call the public actions, gateway keys the gateway actions (each handler
//! of those checks the gateway is the key's own).

mod agent;
mod backup_plans;
mod backup_sets;
mod dblist;
mod downloads;
mod gateways;
mod job_errors;
mod nodes;
mod plans;
mod precheck;
mod regions;

use serde_json::Value;

use crate::api::{gateway, ApiError};

use super::call::Call;
use super::keys::Role;
use super::ControlPlane;

/// Public actions that change state: each served one is logged with its key.
const CHANGING_ACTIONS: [&str; 15] = [
    "CreateGetDBListFromAgentTask",
    "ModifyBackupSetDownloadRules",
    "CreateFullBackupSetDownload",
    "CreateIncrementBackupSetDownload",
    "CreateBackupPlan",
    "ConfigureBackupPlan",
    "CreateAndStartBackupPlan",
    "StartBackupPlan",
    "StopBackupPlan",
    "ReleaseBackupPlan",
    "ModifyBackupObjects",
    "ModifyBackupStrategy",
    "ModifyBackupSourceEndpoint",
    "ModifyBackupPlanName",
    "ModifyStorageStrategy",
];

/// Checks the caller's role, runs the handler of `call.action`, and logs a
/// served state-changing public action with the key that made it (the
/// gateway actions log their own changes).
pub async fn dispatch(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let gateway_action = gateway::ACTIONS.contains(&call.action.as_str());
    match (call.caller.role, gateway_action) {
        (Role::User, true) => {
            return Err(ApiError::new(
                403,
                "Forbidden.UserKey",
                format!(
                    "{} is a gateway action: it needs a gateway AccessKey (dbs-control access-key create --gateway IDENTIFIER).",
                    call.action
                ),
            ))
        }
        (Role::Gateway, false) => {
            return Err(ApiError::new(
                403,
                "Forbidden.GatewayKey",
                "A gateway AccessKey can call only the gateway actions; use a user AccessKey.",
            ))
        }
        _ => {}
    }
    let answer = route(plane, call).await?;
    if CHANGING_ACTIONS.contains(&call.action.as_str()) {
        tracing::info!(access_key_id = %call.caller.access_key_id, action = %call.action, "served");
    }
    Ok(answer)
}

async fn route(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
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
        "DescribeBackupPlanList" => plans::describe_backup_plan_list(plane, call).await,
        "CreateBackupPlan" => backup_plans::create(plane, call).await,
        "ConfigureBackupPlan" => backup_plans::configure(plane, call).await,
        "CreateAndStartBackupPlan" => backup_plans::create_and_start(plane, call).await,
        "StartBackupPlan" => backup_plans::start(plane, call).await,
        "StopBackupPlan" => backup_plans::stop(plane, call).await,
        "ReleaseBackupPlan" => backup_plans::release(plane, call).await,
        "ModifyBackupObjects" => backup_plans::modify_objects(plane, call).await,
        "ModifyBackupStrategy" => backup_plans::modify_strategy(plane, call).await,
        "ModifyBackupSourceEndpoint" => backup_plans::modify_source(plane, call).await,
        "ModifyBackupPlanName" => backup_plans::modify_name(plane, call).await,
        "ModifyStorageStrategy" => backup_plans::modify_storage(plane, call).await,
        "DescribePreCheckProgressList" => {
            precheck::describe_pre_check_progress_list(plane, call).await
        }
        "DescribeJobErrorCode" => job_errors::describe_job_error_code(plane, call).await,
        "DescribeNodeCidrList" => nodes::describe_node_cidr_list(plane, call).await,
        gateway::HEARTBEAT => agent::heartbeat(plane, call).await,
        gateway::POLL_TASKS => agent::poll_tasks(plane, call).await,
        gateway::REPORT_TASK => agent::report_task(plane, call).await,
        other => Err(ApiError::not_found(
            "InvalidAction.NotFound",
            format!("Specified api {other} is not found, please check your url and method."),
        )),
    }
}

/// The caller's own gateway: its key must be bound (by a first heartbeat),
/// and the gateway `id` it names must be that gateway's.
pub(crate) async fn own_gateway(
    plane: &ControlPlane,
    call: &Call,
    id: i64,
) -> Result<i64, ApiError> {
    let not_yours = || {
        ApiError::new(
            403,
            "Forbidden.NotYourGateway",
            format!("Backup gateway {id} is not the gateway of this AccessKey."),
        )
    };
    let Some(identifier) = call.caller.gateway.clone() else {
        return Err(not_yours());
    };
    let gateway = plane
        .store
        .call(move |c| super::gateways::by_identifier(c, &identifier))
        .await
        .map_err(internal)?;
    match gateway {
        Some(g) if g.id == id => Ok(id),
        _ => Err(not_yours()),
    }
}

/// The optional `ClientToken` of a call that creates something.
pub(crate) fn client_token(call: &Call) -> Result<Option<String>, ApiError> {
    let token = call.get("ClientToken");
    if let Some(token) = token {
        crate::api::bounds::token(token).map_err(|e| ApiError::invalid("ClientToken", e))?;
    }
    Ok(token.map(str::to_string))
}

/// An optional `true`/`false` parameter (any case); false when absent.
pub(crate) fn flag(call: &Call, name: &str) -> Result<bool, ApiError> {
    match call.get(name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ApiError::invalid(
            name,
            format!("{v:?} is not true or false"),
        )),
    }
}

/// Maps a store failure to a generic internal error, logging the cause.
pub(crate) fn internal(error: rusqlite::Error) -> ApiError {
    tracing::error!(%error, "store failure");
    ApiError::internal()
}

//! CreateGetDBListFromAgentTask and GetDBListFromAgent: a user asks a gateway
//! to list the databases of an endpoint on its host, then fetches the answer.
//!
//! `SourceEndpointRegion`, optional in both, must be the gateway's region
//! when given. GetDBListFromAgent finds the gateway from `TaskId` alone;
//! `BackupGatewayId`, when given, must be the task's.

use serde_json::{json, Value};

use crate::api::gateway::{self, DbListResult, TaskSpec};
use crate::api::{bounds, gateway_status, ApiError};
use crate::control::call::Call;
use crate::control::{gateways, store, tasks, ControlPlane};

/// Refuses a `SourceEndpointRegion` other than the gateway's region.
fn check_region(call: &Call, gateway: &gateways::Gateway) -> Result<(), ApiError> {
    match call.get("SourceEndpointRegion") {
        Some(region) if region != gateway.region => Err(ApiError::invalid(
            "SourceEndpointRegion",
            format!(
                "backup gateway {} is in region {}",
                gateway.id, gateway.region
            ),
        )),
        _ => Ok(()),
    }
}

/// Queues a GetDBList task for an ONLINE gateway; the same ClientToken gives
/// the same TaskId.
pub async fn create_task(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let gateway_id: i64 = call.parse_required("BackupGatewayId")?;
    let given_type = call.require("DatabaseType")?;
    let database_type = gateway::listable_database_type(given_type).ok_or_else(|| {
        let known = gateway::UNLISTABLE_DATABASE_TYPES
            .iter()
            .any(|t| t.eq_ignore_ascii_case(given_type));
        let why = if known {
            "is not supported by the gateway yet"
        } else {
            "is not a database type"
        };
        ApiError::new(
            400,
            "UnsupportedDatabaseType",
            format!(
                "DatabaseType {given_type} {why}; use one of {}.",
                gateway::LISTABLE_DATABASE_TYPES.join(", ")
            ),
        )
    })?;
    let ip = call.require("SourceEndpointIP")?.to_string();
    bounds::host(&ip).map_err(|e| ApiError::invalid("SourceEndpointIP", e))?;
    let port: u16 = call.parse_required("SourceEndpointPort")?;
    let token = super::client_token(call)?;
    let gateway = super::agent::gateway_by_id(plane, gateway_id).await?;
    check_region(call, &gateway)?;
    let status = gateway.status(
        store::now_ms(),
        plane.settings.offline_after.as_millis() as i64,
    );
    if status != gateway_status::ONLINE {
        return Err(ApiError::new(
            400,
            "BackupGateway.NotOnline",
            format!("Backup gateway {gateway_id} is {status}; it must be ONLINE to take a task."),
        ));
    }
    let spec = TaskSpec::GetDbList {
        database_type: database_type.to_string(),
        source_endpoint_ip: ip,
        source_endpoint_port: port,
    };
    let now = store::now_ms();
    let task_id = plane
        .store
        .call(move |c| tasks::enqueue(c, gateway_id, &spec, token.as_deref(), now))
        .await
        .map_err(super::internal)?;
    plane.notifier.wake(gateway_id);
    Ok(json!({ "TaskId": task_id }))
}

/// The answer of a GetDBList task: the names in the SDK's `DbList.dbName`,
/// details beside them in `DbDetails`; while the task runs, `Success: false`
/// with `ErrCode: Task.Running`; a failed task's code and message likewise.
pub async fn get_result(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let task_id: i64 = call.parse_required("TaskId")?;
    let gateway_id: Option<i64> = call.parse("BackupGatewayId")?;
    let task = plane
        .store
        .call(move |c| tasks::get(c, task_id))
        .await
        .map_err(super::internal)?
        .filter(|t| {
            !matches!(gateway_id, Some(g) if g != t.gateway_id)
                && matches!(t.spec, TaskSpec::GetDbList { .. })
        })
        .ok_or_else(|| {
            let on = gateway_id
                .map(|g| format!(" on backup gateway {g}"))
                .unwrap_or_default();
            ApiError::not_found("Task.NotFound", format!("No GetDBList task {task_id}{on}."))
        })?;
    if call.get("SourceEndpointRegion").is_some() {
        let gateway = super::agent::gateway_by_id(plane, task.gateway_id).await?;
        check_region(call, &gateway)?;
    }
    let empty = json!({ "dbName": [] });
    Ok(match task.state.as_str() {
        "finish" => {
            let result: DbListResult = task
                .result
                .and_then(|r| serde_json::from_value(r).ok())
                .unwrap_or_default();
            let names: Vec<Value> = result.databases.iter().map(|d| d["Name"].clone()).collect();
            let mut answer =
                json!({ "DbList": { "dbName": names }, "DbDetails": result.databases });
            // A listing too large for one report says so.
            if result.truncated {
                answer["Truncated"] = true.into();
            }
            if let Some(count) = result.database_count {
                answer["DatabaseCount"] = count.into();
            }
            answer
        }
        "failed" => json!({
            "Success": false,
            "DbList": empty,
            "ErrCode": task.err_code.unwrap_or_else(|| "Task.Failed".into()),
            "ErrMessage": task.err_message.unwrap_or_default(),
        }),
        state => json!({
            "Success": false,
            "DbList": empty,
            "ErrCode": "Task.Running",
            "ErrMessage": format!("Task {task_id} is {state} (attempt {}); ask again shortly.", task.attempts),
        }),
    })
}

//! DescribeBackupPlanList: the catalog's plans, each with its download rules
//! read back in the SDK model's fields.
//!
//! A plan here is a container of sets with download rules: it has no
//! source endpoint, schedule or storage of its own, so those fields are
//! omitted. Every plan is `running` (it takes sets and its rules apply);
//! plans belong to no region, so `Region` selects nothing.

use serde_json::{json, Value};

use crate::api::ApiError;
use crate::control::call::Call;
use crate::control::catalog::{names, plans};
use crate::control::ControlPlane;

/// `BackupPlanStatus` of every plan.
const PLAN_STATUS: &str = "running";

/// Most ids one listing filters on.
const MAX_PLAN_IDS: usize = 100;

/// Largest `PageSize` (this action takes 1 to 100).
const MAX_PAGE_SIZE: usize = 100;

/// DescribeBackupPlanList: plans ordered by id, optionally only those named
/// by `BackupPlanId` (comma-separated) or `BackupPlanName` (a plan's name
/// is its id), one page at a time (PageNum from 0, PageSize 1 to 100,
/// default 30).
pub async fn describe_backup_plan_list(
    plane: &ControlPlane,
    call: &Call,
) -> Result<Value, ApiError> {
    let page_size = call.parse::<usize>("PageSize")?.unwrap_or(30);
    if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(ApiError::invalid("PageSize", "must be 1 to 100"));
    }
    let page_num = call.parse::<usize>("PageNum")?.unwrap_or(0);
    let by_id = id_filter(call, "BackupPlanId")?;
    let by_name = id_filter(call, "BackupPlanName")?;
    let empty_page =
        || super::backup_sets::page(json!({ "BackupPlanDetail": [] }), page_num, page_size, 0);
    if call
        .get("BackupPlanStatus")
        .is_some_and(|s| s != PLAN_STATUS)
    {
        return Ok(empty_page());
    }
    let ids = match (by_id, by_name) {
        (Some(ids), Some(names)) => {
            let both: Vec<String> = ids.into_iter().filter(|i| names.contains(i)).collect();
            if both.is_empty() {
                return Ok(empty_page());
            }
            both
        }
        (Some(ids), None) | (None, Some(ids)) => ids,
        (None, None) => Vec::new(),
    };
    let (found, total) = plane
        .store
        .call(move |c| plans::list(c, &ids, page_num, page_size))
        .await
        .map_err(super::internal)?;
    let items: Vec<Value> = found.iter().map(plan_item).collect();
    Ok(super::backup_sets::page(
        json!({ "BackupPlanDetail": items }),
        page_num,
        page_size,
        total,
    ))
}

/// The plan ids a comma-separated parameter names, each checked.
fn id_filter(call: &Call, param: &str) -> Result<Option<Vec<String>>, ApiError> {
    let Some(value) = call.get(param) else {
        return Ok(None);
    };
    let ids: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect();
    if ids.len() > MAX_PLAN_IDS {
        return Err(ApiError::invalid(
            param,
            format!("at most {MAX_PLAN_IDS} plan ids"),
        ));
    }
    for id in &ids {
        names::plan_id(id).map_err(|e| ApiError::invalid(param, e))?;
    }
    Ok(Some(ids))
}

fn plan_item(plan: &plans::Plan) -> Value {
    let rules = &plan.rules;
    let mut item = json!({
        "BackupPlanId": plan.id,
        "BackupPlanName": plan.id,
        "BackupPlanStatus": PLAN_STATUS,
        "BackupPlanCreateTime": plan.created_ms,
        "DatabaseType": plan.db_type,
        "OpenBackupSetAutoDownload": rules.open_auto_download,
        "BackupSetDownloadFullDataFormat": rules.full_data_format,
        "BackupSetDownloadIncrementDataFormat": rules.increment_data_format,
        "BackupSetDownloadTargetType": rules.target_type,
        // Beside the SDK fields: where on the gateway's host sets go.
        "BackupSetDownloadTargetTypeLocation": rules.location,
    });
    if !rules.download_dir.is_empty() {
        item["BackupSetDownloadDir"] = rules.download_dir.clone().into();
    }
    if let Some(gateway_id) = rules.gateway_id {
        item["BackupSetDownloadGatewayId"] = gateway_id.into();
    }
    item
}

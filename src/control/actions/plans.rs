//! DescribeBackupPlanList: the catalog's plans in the SDK model's fields:
//! status, name, method, source, objects, schedule, retention and gateway
//! of plans made through the API, the download rules of every plan, and
//! beside the SDK fields the next scheduled run (`NextFullBackupTime`, ms).
//!
//! A plan of the admin CLI is a container of sets with download rules: it
//! has no source or schedule, so those fields are omitted, and it is always
//! `running` (it takes sets and its rules apply). `Region` selects nothing.

use serde_json::{json, Value};

use crate::api::ApiError;
use crate::control::call::Call;
use crate::control::catalog::{names, plans};
use crate::control::ControlPlane;

/// Most ids one listing filters on.
const MAX_PLAN_IDS: usize = 100;

/// Largest `PageSize` (this action takes 1 to 100).
const MAX_PAGE_SIZE: usize = 100;

/// DescribeBackupPlanList: plans ordered by id, optionally only those named
/// by `BackupPlanId` (comma-separated), `BackupPlanName` (comma-separated
/// names; a plan without a name is named by its id), `BackupPlanStatus` or
/// `BackupMethod`, one page at a time (PageNum from 0, PageSize 1 to 100,
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
    let ids = list_filter(call, "BackupPlanId", |id| names::plan_id(id).map(drop))?;
    let names = list_filter(call, "BackupPlanName", crate::api::bounds::display_name)?;
    let filter = plans::ListFilter {
        ids,
        names,
        status: call.get("BackupPlanStatus").map(str::to_string),
        method: call.get("BackupMethod").map(str::to_string),
    };
    let (found, total) = plane
        .store
        .call(move |c| plans::list(c, &filter, page_num, page_size))
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

/// The values a comma-separated parameter lists (none when absent), each
/// checked by `check`.
fn list_filter<E: std::fmt::Display>(
    call: &Call,
    param: &str,
    check: impl Fn(&str) -> Result<(), E>,
) -> Result<Vec<String>, ApiError> {
    let Some(value) = call.get(param) else {
        return Ok(Vec::new());
    };
    let values: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    if values.len() > MAX_PLAN_IDS {
        return Err(ApiError::invalid(
            param,
            format!("at most {MAX_PLAN_IDS} values"),
        ));
    }
    for v in &values {
        check(v).map_err(|e| ApiError::invalid(param, e))?;
    }
    Ok(values)
}

fn plan_item(plan: &plans::Plan) -> Value {
    let rules = &plan.rules;
    let mut item = json!({
        "BackupPlanId": plan.id,
        "BackupPlanName": plan.display_name(),
        "BackupPlanStatus": plan.status,
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
    if let Some(method) = &plan.method {
        item["BackupMethod"] = method.clone().into();
    }
    if let Some(days) = plan.retention_days {
        item["BackupRetentionPeriod"] = days.into();
    }
    if let Some(region) = billing_region(plan) {
        item["BackupPlanRegion"] = region.into();
    }
    if let Some(b) = &plan.backup {
        item["SourceEndpointInstanceType"] = b.instance_type.clone().into();
        item["SourceEndpointIpPort"] = format!("{}:{}", b.ip, b.port).into();
        item["SourceEndpointHost"] = b.ip.clone().into();
        item["SourceEndpointPort"] = b.port.into();
        item["BackupGatewayId"] = b.gateway_id.into();
        item["EnableBackupLog"] = false.into();
        if let Some(user) = &b.user {
            item["SourceEndpointUserName"] = user.clone().into();
        }
        item["BackupObjects"] = b.objects.clone().unwrap_or_default().into();
        // Beside the SDK fields: the strategy and the limits.
        item["BackupStrategyType"] = b.strategy_type.clone().into();
        if let Some(period) = &b.period {
            item["BackupPeriod"] = period.clone().into();
        }
        if let Some(start_time) = &b.start_time {
            item["BackupStartTime"] = start_time.clone().into();
        }
        if let Some(limit) = b.speed_limit_kib {
            item["BackupSpeedLimit"] = limit.into();
        }
        if let Some(limit) = b.rate_limit_kib {
            item["BackupRateLimit"] = limit.into();
        }
    }
    if let Some(next) = plan.next_run_ms {
        // Beside the SDK fields: the next scheduled full backup.
        item["NextFullBackupTime"] = next.into();
    }
    item
}

/// The `Region` CreateBackupPlan recorded with the billing fields.
fn billing_region(plan: &plans::Plan) -> Option<String> {
    let billing: Value = serde_json::from_str(plan.billing.as_deref()?).ok()?;
    billing.get("Region")?.as_str().map(str::to_string)
}

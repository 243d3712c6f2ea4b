//! DescribeBackupGatewayList.

use serde_json::{json, Value};

use crate::api::{bounds, ApiError};
use crate::control::call::Call;
use crate::control::{gateways, store, ControlPlane};

/// Most identifiers one listing filters on.
const MAX_IDENTIFIERS: usize = 100;

/// Lists the gateways of a region, optionally filtered by identifiers
/// (comma-separated), one page at a time (PageNum counts from 0).
pub async fn describe_backup_gateway_list(
    plane: &ControlPlane,
    call: &Call,
) -> Result<Value, ApiError> {
    let region = call.require("Region")?.to_string();
    let identifiers: Vec<String> = call
        .get("Identifier")
        .map(|s| {
            s.split(',')
                .map(|i| i.trim().to_string())
                .filter(|i| !i.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if identifiers.len() > MAX_IDENTIFIERS {
        return Err(ApiError::invalid(
            "Identifier",
            format!("at most {MAX_IDENTIFIERS} identifiers"),
        ));
    }
    for identifier in &identifiers {
        bounds::identifier(identifier).map_err(|e| ApiError::invalid("Identifier", e))?;
    }
    let (page_num, page_size) = super::backup_sets::paging(call)?;

    let (page, total) = plane
        .store
        .call(move |c| gateways::list(c, &region, &identifiers, page_num, page_size))
        .await
        .map_err(super::internal)?;
    let now = store::now_ms();
    let offline_after = plane.settings.offline_after.as_millis() as i64;
    let items: Vec<Value> = page
        .iter()
        .map(|g| {
            json!({
                "BackupGatewayId": g.id.to_string(),
                "Identifier": g.identifier,
                "DisplayName": g.display_name,
                "BackupGatewayStatus": g.status(now, offline_after),
                "LastHeartbeatTime": g.last_heartbeat_ms,
                "BackupGatewayCreateTime": g.created_ms,
                "SourceEndpointHostname": g.hostname,
                "SourceEndpointIntranetIP": g.intranet_ip,
                "SourceEndpointInternetIP": g.internet_ip,
                "Region": g.region,
            })
        })
        .collect();
    Ok(json!({
        "Items": { "BackupGateway": items },
        "PageNum": page_num,
        "PageSize": page_size,
        "TotalElements": total,
        "TotalPages": total.div_ceil(page_size),
    }))
}

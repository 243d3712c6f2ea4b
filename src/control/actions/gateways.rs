//! DescribeBackupGatewayList.

use serde_json::{json, Value};

use crate::api::ApiError;
use crate::control::call::Call;
use crate::control::{gateways, store, ControlPlane};

/// Page sizes the API accepts.
const PAGE_SIZES: [usize; 3] = [30, 50, 100];

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
    let page_size = call.parse::<usize>("PageSize")?.unwrap_or(30);
    if !PAGE_SIZES.contains(&page_size) {
        return Err(ApiError::invalid("PageSize", "must be 30, 50 or 100"));
    }
    let page_num = call.parse::<usize>("PageNum")?.unwrap_or(0);

    let all = plane
        .store
        .call(move |c| gateways::list(c, &region, &identifiers))
        .await
        .map_err(super::internal)?;
    let now = store::now_ms();
    let offline_after = plane.settings.offline_after.as_millis() as i64;
    let items: Vec<Value> = all
        .iter()
        .skip(page_num.saturating_mul(page_size))
        .take(page_size)
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
        "TotalElements": all.len(),
        "TotalPages": all.len().div_ceil(page_size),
    }))
}

//! DescribeFullBackupList and DescribeIncrementBackupList: the sets of a
//! plan, newest first, one page at a time, in the SDK models' fields.
//!
//! The catalog knows a set's id, size, name, checksum and the times it was
//! copied in; fields about the backup job itself (source endpoint, backup
//! objects, encryption) are omitted. Sets never expire, so
//! `BackupSetExpiredTime` is omitted too.

use serde_json::{json, Value};

use crate::api::gateway::SetKind;
use crate::api::ApiError;
use crate::control::call::Call;
use crate::control::catalog::{plans, sets};
use crate::control::ControlPlane;

/// Page sizes the API accepts.
const PAGE_SIZES: [usize; 3] = [30, 50, 100];

/// `BackupStatus` of a registered full set: its bytes are complete.
const SET_STATUS: &str = "finish";

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
    if kind == SetKind::Full {
        match call.get("BackupSetStatus") {
            None | Some(SET_STATUS) => {}
            Some(_) => {
                return Ok(page(
                    json!({ "FullBackupFile": [] }),
                    page_num,
                    page_size,
                    0,
                ))
            }
        }
    }
    let (found, total) = plane
        .store
        .call(move |c| sets::list(c, &plan.id, kind, &filter, page_num, page_size))
        .await
        .map_err(super::internal)?;
    let items: Vec<Value> = found.iter().map(|s| set_item(s, kind)).collect();
    let items = match kind {
        SetKind::Full => json!({ "FullBackupFile": items }),
        SetKind::Increment => json!({ "IncrementBackupFile": items }),
    };
    Ok(page(items, page_num, page_size, total))
}

/// A set as its list shows it. An increment is shown as the documents show
/// one: `BackupSetId` is its file name and `BackupSetJobId` the id that
/// CreateIncrementBackupSetDownload takes as `BackupSetId` (with the file
/// name as `BackupSetName`).
fn set_item(set: &sets::BackupSet, kind: SetKind) -> Value {
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

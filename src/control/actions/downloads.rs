//! Backup-set downloads: ModifyBackupSetDownloadRules (auto download of
//! every set a plan gets from then on), CreateFullBackupSetDownload and
//! CreateIncrementBackupSetDownload (manual: a signed URL, ready at once),
//! and DescribeBackupSetDownloadTaskList (every download, with live
//! progress for the ones a gateway runs).

use serde_json::{json, Value};

use crate::api::gateway::SetKind;
use crate::api::ApiError;
use crate::control::call::Call;
use crate::control::catalog::downloads::{self, Record};
use crate::control::catalog::{meta, names, plans, sets};
use crate::control::{set_url, store, ControlPlane};

use super::backup_sets::{known_plan, page, paging};
use super::flag;

/// The one `BackupSetDownloadTargetType` of rules: a host with a gateway.
const TARGET_AGENT: &str = "agent";

/// ModifyBackupSetDownloadRules: replaces a plan's download rules. Absent
/// parameters take their defaults (auto download off, location `local`,
/// formats `Native`), but for `BackupGatewayId` (a registered gateway) and
/// `BackupSetDownloadDir`, which keep the plan's current values; auto
/// download on needs both. Sets the plan already has are not queued.
pub async fn modify_rules(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let plan = known_plan(plane, call.require("BackupPlanId")?).await?;
    let open = flag(call, "OpenAutoDownload")?;
    let target_type = call
        .get("BackupSetDownloadTargetType")
        .unwrap_or(TARGET_AGENT);
    if target_type != TARGET_AGENT {
        return Err(ApiError::invalid(
            "BackupSetDownloadTargetType",
            "the only target type is agent",
        ));
    }
    let location =
        names::location(call.get("BackupSetDownloadTargetTypeLocation")).map_err(|e| e.to_api())?;
    let full =
        names::data_format("FullDataFormat", call.get("FullDataFormat")).map_err(|e| e.to_api())?;
    let increment = names::data_format("IncrementDataFormat", call.get("IncrementDataFormat"))
        .map_err(|e| e.to_api())?;
    // Optional in the SDK: an absent gateway or folder is the plan's
    // current one; auto download needs both.
    let dir = match call.get("BackupSetDownloadDir") {
        Some(dir) => names::download_dir(dir).map_err(|e| e.to_api())?,
        None if open && plan.rules.download_dir.is_empty() => {
            return Err(ApiError::missing("BackupSetDownloadDir"))
        }
        None => &plan.rules.download_dir,
    };
    let gateway_id = match call.parse::<i64>("BackupGatewayId")? {
        Some(id) => Some(super::agent::gateway_by_id(plane, id).await?.id),
        None if open && plan.rules.gateway_id.is_none() => {
            return Err(ApiError::missing("BackupGatewayId"))
        }
        None => plan.rules.gateway_id,
    };
    let rules = plans::Rules {
        open_auto_download: open,
        gateway_id,
        full_data_format: full.into(),
        increment_data_format: increment.into(),
        download_dir: dir.into(),
        target_type: target_type.into(),
        location: location.into(),
    };
    let id = plan.id.clone();
    let now = store::now_ms();
    plane
        .store
        .call(move |c| plans::set_rules(c, &id, &rules, now))
        .await
        .map_err(super::internal)?;
    tracing::info!(plan = %plan.id, auto = open, ?gateway_id, location, "download rules changed");
    Ok(json!({ "BackupPlanId": plan.id }))
}

async fn create_manual(
    plane: &ControlPlane,
    call: &Call,
    kind: SetKind,
) -> Result<Value, ApiError> {
    let set_id = call.require("BackupSetId")?.to_string();
    let name = match kind {
        SetKind::Full => None,
        SetKind::Increment => Some(call.require("BackupSetName")?.to_string()),
    };
    let format = names::data_format("BackupSetDataFormat", call.get("BackupSetDataFormat"))
        .map_err(|e| e.to_api())?;
    let token = super::client_token(call)?;
    let lookup = set_id.clone();
    let set = plane
        .store
        .call(move |c| sets::get(c, &lookup))
        .await
        .map_err(super::internal)?
        .ok_or_else(|| {
            ApiError::not_found(
                "BackupSet.NotFound",
                format!("Backup set {set_id} does not exist."),
            )
        })?;
    if set.kind != kind {
        let other = match set.kind {
            SetKind::Full => "a full set; use CreateFullBackupSetDownload",
            SetKind::Increment => "an incremental set; use CreateIncrementBackupSetDownload",
        };
        return Err(ApiError::invalid(
            "BackupSetId",
            format!("{set_id} is {other}"),
        ));
    }
    if let Some(name) = name.filter(|n| *n != set.name && n != set.job_id()) {
        return Err(ApiError::invalid(
            "BackupSetName",
            format!(
                "{name:?} is neither the name nor the job id of set {}",
                set.id
            ),
        ));
    }
    let now = store::now_ms();
    let id = plane
        .store
        .call(move |c| downloads::create_manual(c, &set, format, token.as_deref(), now))
        .await
        .map_err(super::internal)?;
    Ok(json!({ "BackupSetDownloadTaskId": id.to_string() }))
}

/// CreateFullBackupSetDownload.
pub async fn create_full(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    create_manual(plane, call, SetKind::Full).await
}

/// CreateIncrementBackupSetDownload: `BackupSetId` is the set's
/// `BackupSetJobId` in DescribeIncrementBackupList, and `BackupSetName` its
/// `BackupSetId` there (the file name), or the job id again.
pub async fn create_increment(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    create_manual(plane, call, SetKind::Increment).await
}

/// DescribeBackupSetDownloadTaskList: downloads of a plan (or one download
/// by `BackupSetDownloadTaskId`), newest first.
pub async fn describe_task_list(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let plan_id = call.get("BackupPlanId").map(str::to_string);
    let download_param = call.get("BackupSetDownloadTaskId");
    if plan_id.is_none() && download_param.is_none() {
        return Err(ApiError::missing("BackupPlanId"));
    }
    if let Some(plan_id) = &plan_id {
        known_plan(plane, plan_id).await?;
    }
    let (page_num, page_size) = paging(call)?;
    // Ids are numbers here: any other id names no download.
    let download_id = match download_param.map(str::parse::<i64>) {
        Some(Err(_)) => {
            return Ok(page(
                json!({ "BackupSetDownloadTaskDetail": [] }),
                page_num,
                page_size,
                0,
            ))
        }
        given => given.and_then(Result::ok),
    };
    let base = plane.settings.public_url.clone();
    let now = store::now_ms();
    let (records, total, urls) = plane
        .store
        .call(move |c| {
            let (records, total) =
                downloads::list(c, plan_id.as_deref(), download_id, page_num, page_size)?;
            let urls = records
                .iter()
                .map(|r| match r.way.as_str() {
                    downloads::WAY_MANUAL => meta::signing_key(c).map(|key| {
                        Some(set_url::signed_url(
                            &key,
                            base.as_deref(),
                            &r.set.id,
                            now,
                            set_url::LIST_URL_TTL,
                        ))
                    }),
                    _ => Ok(None),
                })
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((records, total, urls))
        })
        .await
        .map_err(super::internal)?;
    let items: Vec<Value> = records
        .iter()
        .zip(urls)
        .map(|(r, url)| download_item(r, url, now))
        .collect();
    Ok(page(
        json!({ "BackupSetDownloadTaskDetail": items }),
        page_num,
        page_size,
        total,
    ))
}

fn download_item(record: &Record, url: Option<String>, now_ms: i64) -> Value {
    let set = &record.set;
    let status = downloads::status(record, now_ms);
    let mut item = json!({
        "BackupSetDownloadTaskId": record.id.to_string(),
        "BackupSetDownloadTaskName": set.name,
        "BackupPlanId": set.plan_id,
        "BackupSetId": set.id,
        "BackupSetCode": match set.kind {
            SetKind::Full => &set.id,
            SetKind::Increment => &set.name,
        },
        "BackupSetDbType": set.db_type,
        "BackupSetDataFormat": record.data_format,
        "BackupSetDataSize": set.size,
        "BackupSetJobType": match set.kind {
            SetKind::Full => "cbs_backup_sub_full",
            SetKind::Increment => "cbs_backup_sub_cont",
        },
        "BackupSetDownloadWay": record.way,
        "BackupSetDownloadStatus": status,
        "BackupSetDownloadCreateTime": record.created_ms,
    });
    if let Some(url) = url {
        item["BackupSetDownloadInternetUrl"] = url.clone().into();
        item["BackupSetDownloadIntranetUrl"] = url.into();
        item["BackupSetDownloadFinishTime"] = record.created_ms.into();
    }
    if let Some(target_type) = &record.target_type {
        item["BackupSetDownloadTargetType"] = target_type.clone().into();
    }
    if let Some(gateway_id) = record.gateway_id {
        item["BackupGatewayId"] = gateway_id.into();
    }
    if let Some(dir) = &record.dir {
        item["BackupSetDownloadDir"] = dir.clone().into();
    }
    if let Some(location) = &record.location {
        item["BackupSetDownloadTargetTypeLocation"] = location.clone().into();
    }
    if let Some(task) = &record.task {
        if matches!(task.state.as_str(), "finish" | "failed") {
            item["BackupSetDownloadFinishTime"] = task.updated_ms.into();
        }
        if task.state == "failed" {
            item["ErrCode"] = task.err_code.clone().unwrap_or_default().into();
            item["ErrMessage"] = task.err_message.clone().unwrap_or_default().into();
        }
        item["TaskId"] = task.id.into();
        item["Attempt"] = task.attempts.into();
        item["BackupSetDownloadProgress"] = progress(record, task, status);
    }
    item
}

/// Live progress beside the SDK fields, from the task's last `Progress`
/// report (`BytesDone`, `Percent`, `BytesPerSecond`).
fn progress(record: &Record, task: &downloads::TaskState, status: &str) -> Value {
    let total = record.set.size;
    let reported = task.progress.as_ref();
    let field = |name: &str| reported.and_then(|p| p.get(name)).and_then(Value::as_u64);
    let done = if status == downloads::STATUS_FINISH {
        total
    } else {
        field("BytesDone").unwrap_or(0).min(total)
    };
    let percent = if total == 0 {
        if status == downloads::STATUS_FINISH {
            100.0
        } else {
            0.0
        }
    } else {
        (done as f64 * 1000.0 / total as f64).floor() / 10.0
    };
    json!({
        "BytesDone": done,
        "BytesTotal": total,
        "Percent": percent,
        "BytesPerSecond": if status == downloads::STATUS_RUNNING { field("BytesPerSecond").unwrap_or(0) } else { 0 },
    })
}

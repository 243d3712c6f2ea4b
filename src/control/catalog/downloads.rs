//! Download records: one per download of a set, either `auto` (a
//! DownloadBackupSet task queued for the plan's gateway when the set was
//! added) or `manual` (a signed URL the user fetches; ready at once).
//!
//! An auto download's state is the state of its task in the `tasks` table,
//! read here and mapped to the API's download statuses by [`status`].

use rusqlite::{Connection, Row};

use crate::api::gateway::{DownloadSpec, SetKind, TaskSpec};
use crate::control::{client_token, set_url, tasks};

use super::meta;
use super::plans::Plan;
use super::sets::BackupSet;

/// `BackupSetDownloadWay` of downloads queued by the rules.
pub const WAY_AUTO: &str = "auto";
/// `BackupSetDownloadWay` of CreateFull/IncrementBackupSetDownload.
pub const WAY_MANUAL: &str = "manual";

/// An auto download just queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    /// `BackupSetDownloadTaskId`.
    pub download_id: i64,
    /// The gateway task.
    pub task_id: i64,
    /// The gateway.
    pub gateway_id: i64,
}

/// Queues the download of a just-added set when its plan's auto download
/// is on; `None` otherwise.
pub fn queue_auto(
    conn: &Connection,
    plan: &Plan,
    set: &BackupSet,
    public_url: Option<&str>,
    now_ms: i64,
) -> rusqlite::Result<Option<Queued>> {
    let rules = &plan.rules;
    let Some(gateway_id) = rules.gateway_id.filter(|_| rules.open_auto_download) else {
        return Ok(None);
    };
    let key = meta::signing_key(conn)?;
    let url = set_url::signed_url(&key, public_url, &set.id, now_ms, set_url::TASK_URL_TTL);
    let spec = TaskSpec::DownloadBackupSet(DownloadSpec {
        backup_set_id: set.id.clone(),
        backup_plan_id: plan.id.clone(),
        kind: set.kind,
        set_name: set.name.clone(),
        url,
        size: set.size,
        crc64: set.crc64.clone(),
        location: rules.location.clone(),
        dir: rules.download_dir.clone(),
    });
    let task_id = tasks::enqueue(conn, gateway_id, &spec, None, now_ms)?;
    let format = match set.kind {
        SetKind::Full => &rules.full_data_format,
        SetKind::Increment => &rules.increment_data_format,
    };
    let download_id = conn.query_row(
        "INSERT INTO set_downloads (set_id, plan_id, way, data_format, target_type, location,
             dir, gateway_id, task_id, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
        rusqlite::params![
            set.id,
            plan.id,
            WAY_AUTO,
            format,
            rules.target_type,
            rules.location,
            rules.download_dir,
            gateway_id,
            task_id,
            now_ms
        ],
        |r| r.get(0),
    )?;
    Ok(Some(Queued {
        download_id,
        task_id,
        gateway_id,
    }))
}

/// Records a manual download of a set; the same client token gives the
/// same id.
pub fn create_manual(
    conn: &Connection,
    set: &BackupSet,
    data_format: &str,
    client_token: Option<&str>,
    now_ms: i64,
) -> rusqlite::Result<i64> {
    if let Some(id) = client_token::id_by_client_token(conn, "set_downloads", client_token)? {
        return Ok(id);
    }
    conn.query_row(
        "INSERT INTO set_downloads (set_id, plan_id, way, data_format, target_type,
             client_token, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        rusqlite::params![
            set.id,
            set.plan_id,
            WAY_MANUAL,
            data_format,
            "",
            client_token,
            now_ms
        ],
        |r| r.get(0),
    )
}

/// A download record with its set and, for auto downloads, its task.
#[derive(Debug, Clone)]
pub struct Record {
    /// `BackupSetDownloadTaskId`.
    pub id: i64,
    /// The set.
    pub set: BackupSet,
    /// `auto` or `manual`.
    pub way: String,
    /// `BackupSetDataFormat`.
    pub data_format: String,
    /// `BackupSetDownloadTargetType` of an auto download (`agent`); a
    /// manual download has none.
    pub target_type: Option<String>,
    /// Target location of an auto download.
    pub location: Option<String>,
    /// `BackupSetDownloadDir` of an auto download.
    pub dir: Option<String>,
    /// The gateway of an auto download.
    pub gateway_id: Option<i64>,
    /// The task of an auto download.
    pub task: Option<TaskState>,
    /// Creation, ms since the epoch.
    pub created_ms: i64,
}

/// The state of an auto download's task.
#[derive(Debug, Clone)]
pub struct TaskState {
    /// Task id.
    pub id: i64,
    /// `queued`, `running`, `finish` or `failed`.
    pub state: String,
    /// Leases so far.
    pub attempts: u32,
    /// End of the current lease.
    pub lease_until_ms: Option<i64>,
    /// Last progress report.
    pub progress: Option<serde_json::Value>,
    /// Error code of a failed task.
    pub err_code: Option<String>,
    /// Error message of a failed task.
    pub err_message: Option<String>,
    /// Last change.
    pub updated_ms: i64,
}

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<Record> {
    let task_id: Option<i64> = row.get("task_id")?;
    let task = match task_id {
        Some(id) => {
            let progress: Option<String> = row.get("t_progress")?;
            Some(TaskState {
                id,
                state: row.get("t_state")?,
                attempts: row.get("t_attempts")?,
                lease_until_ms: row.get("t_lease_until_ms")?,
                progress: progress.and_then(|p| serde_json::from_str(&p).ok()),
                err_code: row.get("t_err_code")?,
                err_message: row.get("t_err_message")?,
                updated_ms: row.get("t_updated_ms")?,
            })
        }
        None => None,
    };
    let way: String = row.get("way")?;
    let target_type = Some(row.get::<_, String>("target_type")?).filter(|_| way == WAY_AUTO);
    Ok(Record {
        id: row.get("d_id")?,
        set: BackupSet::from_columns(row, "s_id", "s_created_ms")?,
        way,
        data_format: row.get("data_format")?,
        target_type,
        location: row.get("location")?,
        dir: row.get("dir")?,
        gateway_id: row.get("gateway_id")?,
        task,
        created_ms: row.get("d_created_ms")?,
    })
}

/// One page of downloads, newest first, of a plan and/or one download id,
/// and the total.
pub fn list(
    conn: &Connection,
    plan_id: Option<&str>,
    download_id: Option<i64>,
    page_num: usize,
    page_size: usize,
) -> rusqlite::Result<(Vec<Record>, usize)> {
    const WHERE: &str = "WHERE (?1 IS NULL OR d.plan_id = ?1) AND (?2 IS NULL OR d.id = ?2)";
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM set_downloads d {WHERE}"),
        rusqlite::params![plan_id, download_id],
        |r| r.get(0),
    )?;
    let offset = page_num.saturating_mul(page_size).min(i64::MAX as usize) as i64;
    let mut stmt = conn.prepare(&format!(
        "SELECT d.id AS d_id, d.way, d.data_format, d.target_type, d.location, d.dir,
             d.gateway_id, d.task_id, d.created_ms AS d_created_ms,
             s.id AS s_id, s.plan_id, s.kind, s.name, s.db_type, s.file, s.size, s.sha256, s.crc64,
             s.start_ms, s.end_ms, s.created_ms AS s_created_ms,
             t.state AS t_state, t.attempts AS t_attempts,
             t.lease_until_ms AS t_lease_until_ms, t.progress AS t_progress,
             t.err_code AS t_err_code, t.err_message AS t_err_message,
             t.updated_ms AS t_updated_ms
         FROM set_downloads d JOIN backup_sets s ON s.id = d.set_id
             LEFT JOIN tasks t ON t.id = d.task_id
         {WHERE} ORDER BY d.id DESC LIMIT ?3 OFFSET ?4"
    ))?;
    let rows = stmt.query_map(
        rusqlite::params![plan_id, download_id, page_size as i64, offset],
        record_from_row,
    )?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, total as usize))
}

/// The `BackupSetDownloadStatus` of a download at `now_ms`:
///
/// the words of the API documents (`init`, `warning`, `cached`, `running`,
/// `failed`, `finish`; `cached` is never used: nothing is converted).
///
/// | task state | status |
/// |---|---|
/// | (manual download: the bytes are ready) | `finish` |
/// | `queued`, never leased | `init` |
/// | `running`, lease lapsed (the agent stopped reporting; offered again) | `warning` |
/// | `running` | `running` |
/// | `finish` | `finish` |
/// | `failed` | `failed` |
pub fn status(record: &Record, now_ms: i64) -> &'static str {
    let Some(task) = &record.task else {
        return STATUS_FINISH;
    };
    match task.state.as_str() {
        "queued" => STATUS_INIT,
        "running" if task.lease_until_ms.is_some_and(|l| l < now_ms) => STATUS_WARNING,
        "running" => STATUS_RUNNING,
        "finish" => STATUS_FINISH,
        _ => STATUS_FAILED,
    }
}

/// `BackupSetDownloadStatus`: queued, not yet taken by the gateway.
pub const STATUS_INIT: &str = "init";
/// `BackupSetDownloadStatus`: the gateway stopped reporting; offered again.
pub const STATUS_WARNING: &str = "warning";
/// `BackupSetDownloadStatus`: the gateway is downloading.
pub const STATUS_RUNNING: &str = "running";
/// `BackupSetDownloadStatus`: failed for good.
pub const STATUS_FAILED: &str = "failed";
/// `BackupSetDownloadStatus`: done.
pub const STATUS_FINISH: &str = "finish";

#[cfg(test)]
mod tests {
    use super::*;

    fn record(task: Option<(&str, Option<i64>)>) -> Record {
        Record {
            id: 1,
            set: BackupSet {
                id: "s".into(),
                plan_id: "p".into(),
                kind: SetKind::Full,
                name: "n".into(),
                db_type: "MySQL".into(),
                file: "sets/s".into(),
                size: 1,
                sha256: String::new(),
                crc64: String::new(),
                start_ms: 0,
                end_ms: 0,
                created_ms: 0,
            },
            way: WAY_AUTO.into(),
            data_format: "Native".into(),
            target_type: Some("agent".into()),
            location: None,
            dir: None,
            gateway_id: None,
            task: task.map(|(state, lease)| TaskState {
                id: 1,
                state: state.into(),
                attempts: 0,
                lease_until_ms: lease,
                progress: None,
                err_code: None,
                err_message: None,
                updated_ms: 0,
            }),
            created_ms: 0,
        }
    }

    #[test]
    fn task_states_map_to_download_statuses() {
        assert_eq!(status(&record(None), 10), "finish");
        assert_eq!(status(&record(Some(("queued", None))), 10), "init");
        assert_eq!(status(&record(Some(("running", Some(20)))), 10), "running");
        assert_eq!(status(&record(Some(("running", Some(5)))), 10), "warning");
        assert_eq!(status(&record(Some(("finish", Some(5)))), 10), "finish");
        assert_eq!(status(&record(Some(("failed", None))), 10), "failed");
    }
}

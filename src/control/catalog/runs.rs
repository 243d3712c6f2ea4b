//! Backup runs: one row per full backup a plan asked a gateway to take,
//! keyed by the `BackupSetId` the set will have, with the task that takes
//! it. A run's state is its task's until the set is uploaded whole and
//! enters `backup_sets`; a half-uploaded set is never listed as a set.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Row};

use crate::api::gateway::{BackupResult, BackupSpec, TaskSpec};
use crate::control::tasks;

use super::sets;

/// Folder of the uploads in progress inside the data dir.
pub const UPLOADS_DIR: &str = "uploads";

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `StartBackupPlan` or `CreateAndStartBackupPlan`.
    Manual,
    /// The plan's schedule.
    Schedule,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
        }
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The `BackupSetId` the set gets.
    pub set_id: String,
    /// Its plan.
    pub plan_id: String,
    /// The task that takes it.
    pub task_id: i64,
    /// The gateway that runs the task.
    pub gateway_id: i64,
    /// `physical` or `logical`.
    pub method: String,
    /// `manual` or `schedule`.
    pub trigger: String,
    /// Creation, ms since the epoch.
    pub created_ms: i64,
}

impl Run {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Run {
            set_id: row.get("set_id")?,
            plan_id: row.get("plan_id")?,
            task_id: row.get("task_id")?,
            gateway_id: row.get("gateway_id")?,
            method: row.get("method")?,
            trigger: row.get("trigger")?,
            created_ms: row.get("created_ms")?,
        })
    }
}

/// Queues the backup task of `spec` for `gateway_id` and records its run,
/// in the caller's transaction. Returns the task id.
pub fn start(
    conn: &Connection,
    spec: &BackupSpec,
    gateway_id: i64,
    trigger: Trigger,
    now_ms: i64,
) -> rusqlite::Result<i64> {
    let task_id = tasks::enqueue(
        conn,
        gateway_id,
        &TaskSpec::Backup(spec.clone()),
        None,
        now_ms,
    )?;
    conn.execute(
        "INSERT INTO backup_runs (set_id, plan_id, task_id, gateway_id, method, trigger, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        rusqlite::params![
            spec.backup_set_id,
            spec.backup_plan_id,
            task_id,
            gateway_id,
            spec.backup_method.as_str(),
            trigger.as_str(),
            now_ms
        ],
    )?;
    Ok(task_id)
}

/// A run by the id of the set it makes.
pub fn get(conn: &Connection, set_id: &str) -> rusqlite::Result<Option<Run>> {
    conn.query_row(
        "SELECT * FROM backup_runs WHERE set_id = ?1",
        [set_id],
        Run::from_row,
    )
    .optional()
}

/// The file an upload in progress of the set `set_id` is kept in, under
/// `data_dir` (`set_id` must have passed `names::set_id`).
pub fn part_file(data_dir: &Path, set_id: &str) -> PathBuf {
    data_dir.join(UPLOADS_DIR).join(format!("{set_id}.part"))
}

/// Checks the `result` a backup task reports with its finish: its set must
/// be recorded with the reported size and CRC64. `Err` says what is wrong.
pub fn check_finish(
    conn: &Connection,
    spec: &BackupSpec,
    result: Option<&str>,
) -> rusqlite::Result<Result<(), String>> {
    let reported: BackupResult = match result.map(serde_json::from_str) {
        Some(Ok(reported)) => reported,
        Some(Err(e)) => return Ok(Err(format!("the result is not a backup result: {e}"))),
        None => return Ok(Err("the finish carries no result".into())),
    };
    let id = &spec.backup_set_id;
    Ok(match sets::get(conn, id)? {
        None => Err(format!("backup set {id} was not uploaded whole")),
        Some(set) if set.crc64 != reported.crc64 || set.size != reported.size => Err(format!(
            "backup set {id} is recorded with {} bytes and CRC64 {}, the gateway reported {} bytes and CRC64 {}",
            set.size, set.crc64, reported.size, reported.crc64
        )),
        Some(_) => Ok(()),
    })
}

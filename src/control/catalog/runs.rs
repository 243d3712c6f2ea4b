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

/// Which runs without a set a listing shows.
#[derive(Debug, Clone, Default)]
pub struct PendingFilter {
    /// Task states kept (`queued`, `running`, `failed`).
    pub states: Vec<&'static str>,
    /// Only the run of this set.
    pub set_id: Option<String>,
    /// Only runs made at or after this time, ms.
    pub from_ms: Option<i64>,
    /// Only runs made at or before this time, ms.
    pub until_ms: Option<i64>,
}

/// Runs of `plan_id` whose set is not in the catalog yet, with their task,
/// newest first: `limit` of them from `offset`, and how many there are.
pub fn without_set(
    conn: &Connection,
    plan_id: &str,
    filter: &PendingFilter,
    offset: usize,
    limit: usize,
) -> rusqlite::Result<(Vec<(Run, tasks::Task)>, usize)> {
    const FROM: &str = "FROM backup_runs r JOIN tasks t ON t.id = r.task_id
        WHERE r.plan_id = ?1
          AND NOT EXISTS (SELECT 1 FROM backup_sets s WHERE s.id = r.set_id)
          AND t.state IN (SELECT value FROM json_each(?2))
          AND (?3 IS NULL OR r.set_id = ?3)
          AND (?4 IS NULL OR r.created_ms >= ?4)
          AND (?5 IS NULL OR r.created_ms <= ?5)";
    let states = serde_json::to_string(&filter.states).expect("states serialize");
    let args = rusqlite::params![
        plan_id,
        states,
        filter.set_id,
        filter.from_ms,
        filter.until_ms
    ];
    let total: i64 = conn.query_row(&format!("SELECT COUNT(*) {FROM}"), args, |r| r.get(0))?;
    let mut stmt = conn.prepare(&format!(
        "SELECT r.* {FROM} ORDER BY r.created_ms DESC, r.task_id DESC LIMIT ?6 OFFSET ?7"
    ))?;
    let runs = stmt
        .query_map(
            rusqlite::params![
                plan_id,
                states,
                filter.set_id,
                filter.from_ms,
                filter.until_ms,
                limit.min(i64::MAX as usize) as i64,
                offset.min(i64::MAX as usize) as i64
            ],
            Run::from_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut found = Vec::with_capacity(runs.len());
    for run in runs {
        if let Some(task) = tasks::get(conn, run.task_id)? {
            found.push((run, task));
        }
    }
    Ok((found, total as usize))
}

/// A logical backup of plan `p1` on 127.0.0.1:3306, for tests.
#[cfg(test)]
pub(crate) fn test_spec(set_id: &str) -> BackupSpec {
    use crate::api::gateway::{BackupMethod, SourceEndpoint};
    BackupSpec {
        backup_plan_id: "p1".into(),
        backup_set_id: set_id.into(),
        source: SourceEndpoint {
            database_type: "MySQL".into(),
            source_endpoint_ip: "127.0.0.1".into(),
            source_endpoint_port: 3306,
        },
        backup_method: BackupMethod::Logical,
        backup_objects: None,
        speed_limit_kib: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::gateway::ReportStatus;
    use crate::control::catalog::plans;
    use crate::control::gateways::register_for_test;
    use crate::control::store;

    #[test]
    fn runs_without_a_set_are_listed_by_their_tasks_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open(dir.path()).unwrap();
        store
            .call_now(|c| {
                let gateway = register_for_test(c, "g1")?;
                plans::create(c, "p1", "MySQL", "logical", "{}", 0)?;
                start(c, &test_spec("bsqueued"), gateway, Trigger::Manual, 1)?;
                let failed = start(c, &test_spec("bsfailed"), gateway, Trigger::Schedule, 2)?;
                start(c, &test_spec("bsdone"), gateway, Trigger::Schedule, 3)?;
                let report = tasks::Report {
                    status: ReportStatus::Failed,
                    progress: None,
                    result: None,
                    err_code: Some("Backup.AccessDenied"),
                    err_message: Some("no RELOAD"),
                };
                tasks::lease(c, gateway, 16, 60_000, 4)?;
                tasks::report(c, gateway, failed, &report, 60_000, 5)?.unwrap();
                // The set of this run entered the catalog: the run is no longer pending.
                c.execute(
                    "INSERT INTO backup_sets (id, plan_id, kind, name, db_type, file, size, sha256,
                         crc64, start_ms, end_ms, created_ms)
                     VALUES ('bsdone', 'p1', 'full', 'x', 'MySQL', 'sets/bsdone', 1, '', '', 3, 3, 3)",
                    [],
                )?;
                let pending = |states: Vec<&'static str>| {
                    let filter = PendingFilter {
                        states,
                        ..PendingFilter::default()
                    };
                    let (found, total) = without_set(c, "p1", &filter, 0, 30)?;
                    let ids: Vec<String> = found.into_iter().map(|(r, _)| r.set_id).collect();
                    Ok::<_, rusqlite::Error>((ids, total))
                };
                assert_eq!(
                    pending(vec!["queued", "running", "failed"])?,
                    (vec!["bsfailed".to_string(), "bsqueued".to_string()], 2)
                );
                assert_eq!(
                    pending(vec!["queued", "running"])?,
                    (vec!["bsqueued".to_string()], 1)
                );
                let filter = PendingFilter {
                    states: vec!["failed"],
                    ..PendingFilter::default()
                };
                let (found, _) = without_set(c, "p1", &filter, 0, 30)?;
                let (run, task) = &found[0];
                assert_eq!((run.trigger.as_str(), task.err_code.as_deref()), ("schedule", Some("Backup.AccessDenied")));
                // A page after the first run.
                let all = PendingFilter {
                    states: vec!["queued", "running", "failed"],
                    ..PendingFilter::default()
                };
                let (found, total) = without_set(c, "p1", &all, 1, 30)?;
                assert_eq!((found.len(), found[0].0.set_id.as_str(), total), (1, "bsqueued", 2));
                Ok(())
            })
            .unwrap();
    }
}

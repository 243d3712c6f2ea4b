//! Backup runs: one row per full backup a plan asked a gateway to take,
//! keyed by the `BackupSetId` the set will have, with the task that takes
//! it. A run's state is its task's until the set is uploaded whole and
//! enters `backup_sets`; a half-uploaded set is never listed as a set.

use rusqlite::{Connection, OptionalExtension, Row};

use crate::api::gateway::{BackupSpec, TaskSpec};
use crate::control::tasks;

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

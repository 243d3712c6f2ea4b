//! The task queue: tasks queued for a gateway, leased to it by a poll, kept
//! alive by its reports, and offered again when a lease lapses (the agent
//! died), up to [`MAX_ATTEMPTS`] times.
//!
//! States: `queued` → `running` (leased) → `finish` | `failed`.

use rusqlite::{Connection, OptionalExtension, Row};

use crate::api::gateway::{LeasedTask, ReportStatus, TaskSpec};

/// Leases offered before a task fails for good.
pub const MAX_ATTEMPTS: u32 = 5;

/// A task as stored.
#[derive(Debug, Clone)]
pub struct Task {
    /// Task id.
    pub id: i64,
    /// The gateway it runs on.
    pub gateway_id: i64,
    /// What to do.
    pub spec: TaskSpec,
    /// `queued`, `running`, `finish` or `failed`.
    pub state: String,
    /// Leases so far.
    pub attempts: u32,
    /// Last progress report (JSON), if any.
    pub progress: Option<serde_json::Value>,
    /// Result (JSON) of a finished task.
    pub result: Option<serde_json::Value>,
    /// Error code of a failed task.
    pub err_code: Option<String>,
    /// Error message of a failed task.
    pub err_message: Option<String>,
    /// Creation, ms since the epoch.
    pub created_ms: i64,
    /// Last change, ms since the epoch.
    pub updated_ms: i64,
}

fn json_column(row: &Row<'_>, name: &str) -> rusqlite::Result<Option<serde_json::Value>> {
    let text: Option<String> = row.get(name)?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

impl Task {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let spec: String = row.get("spec")?;
        Ok(Task {
            id: row.get("id")?,
            gateway_id: row.get("gateway_id")?,
            spec: serde_json::from_str(&spec).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
            })?,
            state: row.get("state")?,
            attempts: row.get("attempts")?,
            progress: json_column(row, "progress")?,
            result: json_column(row, "result")?,
            err_code: row.get("err_code")?,
            err_message: row.get("err_message")?,
            created_ms: row.get("created_ms")?,
            updated_ms: row.get("updated_ms")?,
        })
    }
}

/// Queues a task. With a client token, a second call with the same token
/// returns the first task's id instead of queuing another.
pub fn enqueue(
    conn: &Connection,
    gateway_id: i64,
    spec: &TaskSpec,
    client_token: Option<&str>,
    now_ms: i64,
) -> rusqlite::Result<i64> {
    if let Some(token) = client_token {
        let existing = conn
            .query_row(
                "SELECT id FROM tasks WHERE client_token = ?1",
                [token],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = existing {
            return Ok(id);
        }
    }
    let spec = serde_json::to_string(spec).expect("a task spec serializes");
    conn.query_row(
        "INSERT INTO tasks (gateway_id, spec, state, client_token, created_ms, updated_ms)
         VALUES (?1, ?2, 'queued', ?3, ?4, ?4) RETURNING id",
        rusqlite::params![gateway_id, spec, client_token, now_ms],
        |r| r.get(0),
    )
}

/// A task by id.
pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Task>> {
    conn.query_row("SELECT * FROM tasks WHERE id = ?1", [id], Task::from_row)
        .optional()
}

/// Leases up to `max` tasks of a gateway: queued ones, and running ones whose
/// lease lapsed. Tasks out of attempts fail instead.
pub fn lease(
    conn: &mut Connection,
    gateway_id: i64,
    max: usize,
    lease_ms: i64,
    now_ms: i64,
) -> rusqlite::Result<Vec<LeasedTask>> {
    let tx = conn.transaction()?;
    tx.execute(
        "UPDATE tasks SET state = 'failed', err_code = 'Task.LeaseExpired',
             err_message = 'the gateway stopped reporting on this task ' || attempts || ' times',
             updated_ms = ?2
         WHERE gateway_id = ?1 AND state = 'running' AND lease_until_ms < ?2 AND attempts >= ?3",
        rusqlite::params![gateway_id, now_ms, MAX_ATTEMPTS],
    )?;
    let leased = {
        let mut stmt = tx.prepare_cached(
            "UPDATE tasks SET state = 'running', attempts = attempts + 1,
                 lease_until_ms = ?2 + ?3, updated_ms = ?2
             WHERE id IN (SELECT id FROM tasks WHERE gateway_id = ?1
                 AND (state = 'queued' OR (state = 'running' AND lease_until_ms < ?2))
                 ORDER BY id LIMIT ?4)
             RETURNING *",
        )?;
        let rows = stmt.query_map(
            rusqlite::params![gateway_id, now_ms, lease_ms, max as i64],
            Task::from_row,
        )?;
        rows.map(|task| {
            task.map(|t| LeasedTask {
                task_id: t.id as u64,
                attempt: t.attempts,
                lease_seconds: (lease_ms / 1000) as u64,
                spec: t.spec,
            })
        })
        .collect::<rusqlite::Result<Vec<_>>>()?
    };
    tx.commit()?;
    Ok(leased)
}

/// Why a report was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum ReportRefused {
    /// No such task on this gateway.
    NotFound,
    /// The task is not running (finished, failed, or not leased).
    NotRunning,
}

/// A report from the agent about a leased task.
pub struct Report<'a> {
    /// Running, finish or failed.
    pub status: ReportStatus,
    /// Progress JSON.
    pub progress: Option<&'a str>,
    /// Result JSON.
    pub result: Option<&'a str>,
    /// Error code when failed.
    pub err_code: Option<&'a str>,
    /// Error message when failed.
    pub err_message: Option<&'a str>,
}

/// Applies a report; a running report renews the lease.
pub fn report(
    conn: &Connection,
    gateway_id: i64,
    task_id: i64,
    report: &Report<'_>,
    lease_ms: i64,
    now_ms: i64,
) -> rusqlite::Result<Result<(), ReportRefused>> {
    let state: Option<String> = conn
        .query_row(
            "SELECT state FROM tasks WHERE id = ?1 AND gateway_id = ?2",
            (task_id, gateway_id),
            |r| r.get(0),
        )
        .optional()?;
    match state.as_deref() {
        None => return Ok(Err(ReportRefused::NotFound)),
        Some("running") => {}
        Some(_) => return Ok(Err(ReportRefused::NotRunning)),
    }
    let state = match report.status {
        ReportStatus::Running => "running",
        ReportStatus::Finish => "finish",
        ReportStatus::Failed => "failed",
    };
    conn.execute(
        "UPDATE tasks SET state = ?2, lease_until_ms = ?3 + ?4, updated_ms = ?3,
             progress = COALESCE(?5, progress), result = COALESCE(?6, result),
             err_code = ?7, err_message = ?8
         WHERE id = ?1",
        rusqlite::params![
            task_id,
            state,
            now_ms,
            lease_ms,
            report.progress,
            report.result,
            report.err_code,
            report.err_message
        ],
    )?;
    Ok(Ok(()))
}

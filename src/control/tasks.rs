//! The task queue: tasks queued for a gateway, leased to it by a poll, kept
//! alive by its reports and by its heartbeats' running list ([`renew`]), and
//! offered again when a lease lapses (the agent died). A task fails for good
//! after [`MAX_ATTEMPTS`] leases in a row without a report: a report resets
//! the count, so an agent that keeps making progress between crashes is
//! never given up on.
//!
//! States: `queued` → `running` (leased) → `finish` | `failed`.

use rusqlite::{Connection, OptionalExtension, Row};

use crate::api::gateway::{LeasedTask, ReportStatus, TaskSpec};

/// Leases in a row without a report before a task fails for good.
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
    /// Leases since the task last reported, the current one included.
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
    /// First lease, ms since the epoch.
    pub started_ms: Option<i64>,
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
            started_ms: row.get("started_ms")?,
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
    if let Some(id) = super::client_token::id_by_client_token(conn, "tasks", client_token)? {
        return Ok(id);
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
             err_message = 'the gateway leased this task ' || attempts || ' times in a row without reporting on it',
             updated_ms = ?2
         WHERE gateway_id = ?1 AND state = 'running' AND lease_until_ms < ?2 AND attempts >= ?3",
        rusqlite::params![gateway_id, now_ms, MAX_ATTEMPTS],
    )?;
    let leased = {
        let mut stmt = tx.prepare_cached(
            "UPDATE tasks SET state = 'running', attempts = attempts + 1,
                 lease_until_ms = ?2 + ?3, updated_ms = ?2, started_ms = COALESCE(started_ms, ?2)
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

/// Applies a report; a running report renews the lease. Any report resets
/// the count of leases without a report to 1 (the lease under way).
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
        "UPDATE tasks SET state = ?2, lease_until_ms = ?3 + ?4, updated_ms = ?3, attempts = 1,
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

/// Renews the leases of the running tasks among `task_ids` that belong to
/// `gateway_id` (a heartbeat's running list: tasks the agent runs or holds
/// for a free slot). Ids of other gateways' tasks or of ended tasks are
/// ignored. Returns how many leases were renewed.
pub fn renew(
    conn: &Connection,
    gateway_id: i64,
    task_ids: &[i64],
    lease_ms: i64,
    now_ms: i64,
) -> rusqlite::Result<usize> {
    if task_ids.is_empty() {
        return Ok(0);
    }
    let ids = serde_json::to_string(task_ids).expect("ids serialize");
    conn.execute(
        "UPDATE tasks SET lease_until_ms = MAX(COALESCE(lease_until_ms, 0), ?3 + ?4)
         WHERE gateway_id = ?1 AND state = 'running'
             AND id IN (SELECT value FROM json_each(?2))",
        rusqlite::params![gateway_id, ids, now_ms, lease_ms],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::gateway::HostFacts;
    use crate::control::gateways::{record_heartbeat, Heartbeat};
    use crate::control::store;

    fn setup() -> (tempfile::TempDir, store::Store, i64) {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open(dir.path()).unwrap();
        let hb = Heartbeat {
            identifier: "g1".into(),
            display_name: "g1".into(),
            region: "cn-hangzhou".into(),
            facts: HostFacts::default(),
            stopping: false,
        };
        let id = store.call_now(|c| record_heartbeat(c, &hb, 0)).unwrap().id;
        (dir, store, id)
    }

    fn spec() -> TaskSpec {
        TaskSpec::GetDbList {
            database_type: "MySQL".into(),
            source_endpoint_ip: "127.0.0.1".into(),
            source_endpoint_port: 3306,
        }
    }

    const RUNNING: Report<'static> = Report {
        status: ReportStatus::Running,
        progress: None,
        result: None,
        err_code: None,
        err_message: None,
    };

    #[test]
    fn a_client_token_queues_once() {
        let (_dir, store, gw) = setup();
        store
            .call_now(|c| {
                let a = enqueue(c, gw, &spec(), Some("tok"), 0)?;
                let b = enqueue(c, gw, &spec(), Some("tok"), 0)?;
                let other = enqueue(c, gw, &spec(), None, 0)?;
                assert_eq!(a, b);
                assert_ne!(a, other);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_lapsed_lease_is_offered_again_and_a_live_one_is_not() {
        let (_dir, store, gw) = setup();
        store
            .call_now(|c| {
                let id = enqueue(c, gw, &spec(), None, 0)?;
                let first = lease(c, gw, 4, 1000, 0)?;
                assert_eq!(first.len(), 1);
                assert_eq!(first[0].attempt, 1);
                // Still leased: not offered.
                assert!(lease(c, gw, 4, 1000, 500)?.is_empty());
                // A report renews the lease.
                assert_eq!(report(c, gw, id, &RUNNING, 1000, 900)?, Ok(()));
                assert!(lease(c, gw, 4, 1000, 1500)?.is_empty());
                // Lapsed: offered again as a second attempt.
                let again = lease(c, gw, 4, 1000, 2000)?;
                assert_eq!(again.len(), 1);
                assert_eq!(again[0].attempt, 2);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_task_out_of_attempts_fails() {
        let (_dir, store, gw) = setup();
        store
            .call_now(|c| {
                let id = enqueue(c, gw, &spec(), None, 0)?;
                let mut now = 0;
                for _ in 0..MAX_ATTEMPTS {
                    assert_eq!(lease(c, gw, 1, 10, now)?.len(), 1);
                    now += 100;
                }
                assert!(lease(c, gw, 1, 10, now)?.is_empty());
                let task = get(c, id)?.unwrap();
                assert_eq!(task.state, "failed");
                assert_eq!(task.err_code.as_deref(), Some("Task.LeaseExpired"));
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_report_resets_the_count_of_silent_leases() {
        let (_dir, store, gw) = setup();
        store
            .call_now(|c| {
                let id = enqueue(c, gw, &spec(), None, 0)?;
                let mut now = 0;
                // Many more lapsed leases than MAX_ATTEMPTS, each with a report.
                for _ in 0..MAX_ATTEMPTS * 3 {
                    assert_eq!(lease(c, gw, 1, 10, now)?.len(), 1);
                    assert_eq!(report(c, gw, id, &RUNNING, 10, now + 5)?, Ok(()));
                    now += 100;
                }
                let task = get(c, id)?.unwrap();
                assert_eq!(task.state, "running");
                assert_eq!(task.attempts, 1);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_heartbeat_renews_only_its_own_running_tasks() {
        let (_dir, store, gw) = setup();
        store
            .call_now(|c| {
                let other = record_heartbeat(
                    c,
                    &Heartbeat {
                        identifier: "g2".into(),
                        display_name: "g2".into(),
                        region: "cn-hangzhou".into(),
                        facts: HostFacts::default(),
                        stopping: false,
                    },
                    0,
                )?
                .id;
                let mine = enqueue(c, gw, &spec(), None, 0)?;
                let theirs = enqueue(c, other, &spec(), None, 0)?;
                lease(c, gw, 1, 1000, 0)?;
                lease(c, other, 1, 1000, 0)?;
                assert_eq!(renew(c, gw, &[mine, theirs, 999], 1000, 900)?, 1);
                // Mine is still leased past its first lease; theirs lapsed.
                assert!(lease(c, gw, 1, 1000, 1500)?.is_empty());
                assert_eq!(lease(c, other, 1, 1000, 1500)?.len(), 1);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_finished_task_takes_no_more_reports() {
        let (_dir, store, gw) = setup();
        store
            .call_now(|c| {
                let id = enqueue(c, gw, &spec(), None, 0)?;
                lease(c, gw, 1, 1000, 0)?;
                let finish = Report {
                    status: ReportStatus::Finish,
                    result: Some("{}"),
                    ..RUNNING
                };
                assert_eq!(report(c, gw, id, &finish, 1000, 10)?, Ok(()));
                assert_eq!(
                    report(c, gw, id, &RUNNING, 1000, 20)?,
                    Err(ReportRefused::NotRunning)
                );
                assert_eq!(
                    report(c, gw, id + 100, &RUNNING, 1000, 20)?,
                    Err(ReportRefused::NotFound)
                );
                Ok(())
            })
            .unwrap();
    }
}

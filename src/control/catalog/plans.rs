//! Backup plans: named containers of backup sets, each with its download
//! rules (ModifyBackupSetDownloadRules) and, for plans made through the API
//! (CreateBackupPlan), the backups a gateway takes for them: the source, the
//! method, the weekly schedule and the retention of their sets.
//!
//! Plans of the admin CLI (`backup-plan add`, or the first `backup-set add`
//! of a plan) have no source and stay [`status::RUNNING`]: they take sets
//! and their rules apply, but nothing is scheduled for them.

use rusqlite::{Connection, OptionalExtension, Row};

/// A plan and its download rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `BackupPlanId`.
    pub id: String,
    /// Database type of its sets (MySQL, MSSQL, …).
    pub db_type: String,
    /// The rules.
    pub rules: Rules,
    /// Creation, ms since the epoch.
    pub created_ms: i64,
    /// `BackupPlanStatus`, one of [`status`].
    pub status: String,
    /// `BackupPlanName`; the id when none was given.
    pub name: Option<String>,
    /// `BackupMethod` (`physical` or `logical`) of an API plan.
    pub method: Option<String>,
    /// The billing fields CreateBackupPlan was given (JSON; nothing is
    /// charged).
    pub billing: Option<String>,
    /// What ConfigureBackupPlan set; `None` until then and for CLI plans.
    pub backup: Option<Backup>,
    /// Days a full set is kept after it ended; forever when `None`.
    pub retention_days: Option<i64>,
    /// The next scheduled full backup, ms since the epoch.
    pub next_run_ms: Option<i64>,
    /// The last pre-check task queued for the plan.
    pub precheck_task_id: Option<i64>,
}

/// Values of `BackupPlanStatus`, as DBS names them.
pub mod status {
    /// Created, not configured yet.
    pub const WAIT: &str = "wait";
    /// Configured, not started (or not started yet).
    pub const INIT: &str = "init";
    /// Started: its schedule fires (CLI plans are always running).
    pub const RUNNING: &str = "running";
    /// Stopped: nothing is scheduled; StartBackupPlan runs it again.
    pub const STOP: &str = "stop";
    /// Released: nothing runs again; its sets stay until they expire.
    pub const RELEASED: &str = "release";
}

/// Where a plan's backups come from and how and when they run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// `SourceEndpointInstanceType`: `agent`.
    pub instance_type: String,
    /// `BackupGatewayId`: the gateway on the database's host.
    pub gateway_id: i64,
    /// `SourceEndpointIP`.
    pub ip: String,
    /// `SourceEndpointPort`.
    pub port: u16,
    /// `SourceEndpointUserName`, shown only (the gateway logs in with its
    /// own `[[databases]]` entry; no password is ever kept).
    pub user: Option<String>,
    /// `BackupObjects` JSON; every database when `None`.
    pub objects: Option<String>,
    /// `BackupStrategyType`: `simple` (weekly) or `manual`.
    pub strategy_type: String,
    /// `BackupPeriod` of a `simple` strategy.
    pub period: Option<String>,
    /// `BackupStartTime` (`HH:mmZ`) of a `simple` strategy.
    pub start_time: Option<String>,
    /// `BackupSpeedLimit`, KiB per second.
    pub speed_limit_kib: Option<u64>,
    /// `BackupRateLimit`, KiB per second.
    pub rate_limit_kib: Option<u64>,
}

impl Plan {
    /// `BackupPlanName`: the given name, else the id.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// Columns of plans added after the first release, with their declarations;
/// a data dir made before gets them when it opens.
pub(super) const ADDED_COLUMNS: [(&str, &str); 19] = [
    ("status", "TEXT NOT NULL DEFAULT 'running'"),
    ("plan_name", "TEXT"),
    ("backup_method", "TEXT"),
    ("billing", "TEXT"),
    ("source_type", "TEXT"),
    ("backup_gateway_id", "INTEGER"),
    ("source_ip", "TEXT"),
    ("source_port", "INTEGER"),
    ("source_user", "TEXT"),
    ("backup_objects", "TEXT"),
    ("strategy_type", "TEXT"),
    ("backup_period", "TEXT"),
    ("backup_start_time", "TEXT"),
    ("speed_limit_kib", "INTEGER"),
    ("rate_limit", "INTEGER"),
    ("retention_days", "INTEGER"),
    ("next_run_ms", "INTEGER"),
    ("precheck_task_id", "INTEGER"),
    ("client_token", "TEXT"),
];

/// Download rules of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Queue a download task for every set added from now on.
    pub open_auto_download: bool,
    /// The gateway that downloads (required when auto download is on).
    pub gateway_id: Option<i64>,
    /// Format of full sets (`Native`).
    pub full_data_format: String,
    /// Format of incremental sets (`Native`).
    pub increment_data_format: String,
    /// `BackupSetDownloadDir`.
    pub download_dir: String,
    /// `BackupSetDownloadTargetType`: `agent`.
    pub target_type: String,
    /// `local`, `nas`, `ftp` or `minio`.
    pub location: String,
}

impl Plan {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Plan {
            id: row.get("id")?,
            db_type: row.get("db_type")?,
            rules: Rules {
                open_auto_download: row.get("open_auto_download")?,
                gateway_id: row.get("gateway_id")?,
                full_data_format: row.get("full_data_format")?,
                increment_data_format: row.get("increment_data_format")?,
                download_dir: row.get("download_dir")?,
                target_type: row.get("target_type")?,
                location: row.get("location")?,
            },
            created_ms: row.get("created_ms")?,
            status: row.get("status")?,
            name: row.get("plan_name")?,
            method: row.get("backup_method")?,
            billing: row.get("billing")?,
            backup: Backup::from_row(row)?,
            retention_days: row.get("retention_days")?,
            next_run_ms: row.get("next_run_ms")?,
            precheck_task_id: row.get("precheck_task_id")?,
        })
    }
}

impl Backup {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Option<Self>> {
        let Some(ip) = row.get::<_, Option<String>>("source_ip")? else {
            return Ok(None);
        };
        let unsigned = |name: &str| -> rusqlite::Result<Option<u64>> {
            Ok(row.get::<_, Option<i64>>(name)?.map(|v| v.max(0) as u64))
        };
        Ok(Some(Backup {
            instance_type: row
                .get::<_, Option<String>>("source_type")?
                .unwrap_or_default(),
            gateway_id: row
                .get::<_, Option<i64>>("backup_gateway_id")?
                .unwrap_or_default(),
            ip,
            port: row
                .get::<_, Option<u16>>("source_port")?
                .unwrap_or_default(),
            user: row.get("source_user")?,
            objects: row.get("backup_objects")?,
            strategy_type: row
                .get::<_, Option<String>>("strategy_type")?
                .unwrap_or_default(),
            period: row.get("backup_period")?,
            start_time: row.get("backup_start_time")?,
            speed_limit_kib: unsigned("speed_limit_kib")?,
            rate_limit_kib: unsigned("rate_limit")?,
        }))
    }
}

/// A plan by id.
pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<Plan>> {
    conn.query_row(
        "SELECT * FROM backup_plans WHERE id = ?1",
        [id],
        Plan::from_row,
    )
    .optional()
}

/// The plan `id`, created with `db_type` and auto download off if missing.
pub fn get_or_create(
    conn: &Connection,
    id: &str,
    db_type: &str,
    now_ms: i64,
) -> rusqlite::Result<Plan> {
    conn.execute(
        "INSERT OR IGNORE INTO backup_plans (id, db_type, created_ms) VALUES (?1, ?2, ?3)",
        (id, db_type, now_ms),
    )?;
    conn.query_row(
        "SELECT * FROM backup_plans WHERE id = ?1",
        [id],
        Plan::from_row,
    )
}

/// Replaces the rules of an existing plan; false when there is no such plan.
pub fn set_rules(
    conn: &Connection,
    id: &str,
    rules: &Rules,
    now_ms: i64,
) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE backup_plans SET open_auto_download = ?2, gateway_id = ?3,
             full_data_format = ?4, increment_data_format = ?5, download_dir = ?6,
             target_type = ?7, location = ?8, rules_changed_ms = ?9
         WHERE id = ?1",
        rusqlite::params![
            id,
            rules.open_auto_download,
            rules.gateway_id,
            rules.full_data_format,
            rules.increment_data_format,
            rules.download_dir,
            rules.target_type,
            rules.location,
            now_ms
        ],
    )?;
    Ok(changed == 1)
}

/// Records a plan made by CreateBackupPlan: [`status::WAIT`] until
/// configured.
pub fn create(
    conn: &Connection,
    id: &str,
    db_type: &str,
    method: &str,
    billing: &str,
    now_ms: i64,
) -> rusqlite::Result<Plan> {
    create_with_token(conn, id, db_type, method, billing, None, now_ms)
}

/// [`create`], the plan remembering the `ClientToken` it was made with.
pub fn create_with_token(
    conn: &Connection,
    id: &str,
    db_type: &str,
    method: &str,
    billing: &str,
    client_token: Option<&str>,
    now_ms: i64,
) -> rusqlite::Result<Plan> {
    conn.execute(
        "INSERT INTO backup_plans (id, db_type, backup_method, billing, status, created_ms, client_token)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        rusqlite::params![id, db_type, method, billing, status::WAIT, now_ms, client_token],
    )?;
    conn.query_row(
        "SELECT * FROM backup_plans WHERE id = ?1",
        [id],
        Plan::from_row,
    )
}

/// The plan made with `client_token`, if any.
pub fn by_client_token(conn: &Connection, client_token: &str) -> rusqlite::Result<Option<Plan>> {
    conn.query_row(
        "SELECT * FROM backup_plans WHERE client_token = ?1",
        [client_token],
        Plan::from_row,
    )
    .optional()
}

/// Writes what the API changes of a plan: status, name, backup settings,
/// retention, next run and pre-check task. False when there is no such plan.
pub fn save(conn: &Connection, plan: &Plan) -> rusqlite::Result<bool> {
    let b = plan.backup.as_ref();
    let changed = conn.execute(
        "UPDATE backup_plans SET status = ?2, plan_name = ?3, backup_method = ?4,
             source_type = ?5, backup_gateway_id = ?6, source_ip = ?7, source_port = ?8,
             source_user = ?9, backup_objects = ?10, strategy_type = ?11, backup_period = ?12,
             backup_start_time = ?13, speed_limit_kib = ?14, rate_limit = ?15,
             retention_days = ?16, next_run_ms = ?17, precheck_task_id = ?18
         WHERE id = ?1",
        rusqlite::params![
            plan.id,
            plan.status,
            plan.name,
            plan.method,
            b.map(|b| &b.instance_type),
            b.map(|b| b.gateway_id),
            b.map(|b| &b.ip),
            b.map(|b| b.port),
            b.and_then(|b| b.user.as_ref()),
            b.and_then(|b| b.objects.as_ref()),
            b.map(|b| &b.strategy_type),
            b.and_then(|b| b.period.as_ref()),
            b.and_then(|b| b.start_time.as_ref()),
            b.and_then(|b| b.speed_limit_kib)
                .map(|v| v.min(i64::MAX as u64) as i64),
            b.and_then(|b| b.rate_limit_kib)
                .map(|v| v.min(i64::MAX as u64) as i64),
            plan.retention_days,
            plan.next_run_ms,
            plan.precheck_task_id,
        ],
    )?;
    Ok(changed == 1)
}

/// Running plans whose next scheduled run is at or before `now_ms`.
pub fn due(conn: &Connection, now_ms: i64) -> rusqlite::Result<Vec<Plan>> {
    let mut stmt = conn.prepare(
        "SELECT * FROM backup_plans WHERE status = ?1 AND next_run_ms <= ?2 ORDER BY id",
    )?;
    let rows = stmt.query_map(rusqlite::params![status::RUNNING, now_ms], Plan::from_row)?;
    rows.collect()
}

/// Which plans a listing shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only plans whose id is one of these.
    pub ids: Vec<String>,
    /// Only plans whose `BackupPlanName` (the id when unnamed) is one of these.
    pub names: Vec<String>,
    /// Only plans with this `BackupPlanStatus`.
    pub status: Option<String>,
    /// Only plans with this `BackupMethod`.
    pub method: Option<String>,
}

/// One page of plans, ordered by id, and the total: all of them, or those
/// the filter keeps.
pub fn list(
    conn: &Connection,
    filter: &ListFilter,
    page_num: usize,
    page_size: usize,
) -> rusqlite::Result<(Vec<Plan>, usize)> {
    const WHERE: &str = "WHERE (?1 IS NULL OR id IN (SELECT value FROM json_each(?1)))
        AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR backup_method = ?3)";
    let ids = (!filter.ids.is_empty())
        .then(|| serde_json::to_string(&filter.ids).expect("ids serialize"));
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM backup_plans {WHERE}"),
        rusqlite::params![ids, filter.status, filter.method],
        |r| r.get(0),
    )?;
    let offset = page_num.saturating_mul(page_size).min(i64::MAX as usize) as i64;
    let mut stmt = conn.prepare(&format!(
        "SELECT * FROM backup_plans {WHERE} ORDER BY id LIMIT ?4 OFFSET ?5"
    ))?;
    let rows = stmt.query_map(
        rusqlite::params![ids, filter.status, filter.method, page_size as i64, offset],
        Plan::from_row,
    )?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, total as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::store;

    #[test]
    fn plans_are_listed_a_page_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open(dir.path()).unwrap();
        store
            .call_now(|c| {
                for id in ["c", "a", "b"] {
                    get_or_create(c, id, "MySQL", 0)?;
                }
                let all = ListFilter::default();
                let (page, total) = list(c, &all, 0, 2)?;
                let ids: Vec<&str> = page.iter().map(|p| p.id.as_str()).collect();
                assert_eq!((ids, total), (vec!["a", "b"], 3));
                let (page, _) = list(c, &all, 1, 2)?;
                assert_eq!(page[0].id, "c");
                let some = ListFilter {
                    ids: vec!["c".into(), "x".into()],
                    ..ListFilter::default()
                };
                let (page, total) = list(c, &some, 0, 30)?;
                assert_eq!((page.len(), page[0].id.as_str(), total), (1, "c", 1));
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_data_dir_from_before_plan_sources_opens_with_its_plans_running() {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open(dir.path()).unwrap();
        store
            .call_now(|c| {
                get_or_create(c, "old", "MySQL", 0)?;
                // As the table was before plans had a source and a schedule.
                c.execute_batch(
                    "DROP INDEX backup_plans_due; DROP INDEX backup_plans_client_token",
                )?;
                for (name, _) in ADDED_COLUMNS {
                    c.execute_batch(&format!("ALTER TABLE backup_plans DROP COLUMN {name}"))?;
                }
                Ok(())
            })
            .unwrap();
        drop(store);
        let store = store::open(dir.path()).unwrap();
        let plan = store.call_now(|c| get(c, "old")).unwrap().unwrap();
        assert_eq!(plan.status, status::RUNNING);
        assert_eq!(plan.display_name(), "old");
        assert!(plan.backup.is_none() && plan.next_run_ms.is_none());
    }
}

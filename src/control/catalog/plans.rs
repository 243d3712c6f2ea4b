//! Backup plans: named containers of backup sets, each with its download
//! rules (ModifyBackupSetDownloadRules).
//!
//! Plans enter through the admin CLI (`backup-plan add`, or the first
//! `backup-set add` of a plan); the API only changes their rules.

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
}

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
        })
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

/// One page of plans, ordered by id, and the total: all of them, or those
/// whose id is in `ids`.
pub fn list(
    conn: &Connection,
    ids: &[String],
    page_num: usize,
    page_size: usize,
) -> rusqlite::Result<(Vec<Plan>, usize)> {
    const WHERE: &str = "WHERE ?1 IS NULL OR id IN (SELECT value FROM json_each(?1))";
    let ids = (!ids.is_empty()).then(|| serde_json::to_string(ids).expect("ids serialize"));
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM backup_plans {WHERE}"),
        [&ids],
        |r| r.get(0),
    )?;
    let offset = page_num.saturating_mul(page_size).min(i64::MAX as usize) as i64;
    let mut stmt = conn.prepare(&format!(
        "SELECT * FROM backup_plans {WHERE} ORDER BY id LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = stmt.query_map(
        rusqlite::params![ids, page_size as i64, offset],
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
                let (page, total) = list(c, &[], 0, 2)?;
                let ids: Vec<&str> = page.iter().map(|p| p.id.as_str()).collect();
                assert_eq!((ids, total), (vec!["a", "b"], 3));
                let (page, _) = list(c, &[], 1, 2)?;
                assert_eq!(page[0].id, "c");
                let (page, total) = list(c, &["c".into(), "x".into()], 0, 30)?;
                assert_eq!((page.len(), page[0].id.as_str(), total), (1, "c", 1));
                Ok(())
            })
            .unwrap();
    }
}

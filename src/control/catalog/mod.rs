//! The backup-set catalog of dbs-control: backup plans with their download
//! rules, backup sets (their bytes kept under the data dir), and download
//! records (manual URLs, or agent tasks queued in [`super::tasks`]).
//!
//! Tables live in the control plane's SQLite file beside the others; this
//! module owns only its own tables and reads the `tasks` table to show a
//! download's live state. Never imports `agent`.

pub mod downloads;
pub mod meta;
pub mod names;
pub mod plans;
pub mod retention;
pub mod runs;
pub mod sets;

use rusqlite::Connection;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS catalog_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS backup_plans (
    id TEXT PRIMARY KEY,
    db_type TEXT NOT NULL,
    open_auto_download INTEGER NOT NULL DEFAULT 0,
    gateway_id INTEGER REFERENCES gateways(id),
    full_data_format TEXT NOT NULL DEFAULT 'Native',
    increment_data_format TEXT NOT NULL DEFAULT 'Native',
    download_dir TEXT NOT NULL DEFAULT '',
    target_type TEXT NOT NULL DEFAULT 'agent',
    location TEXT NOT NULL DEFAULT 'local',
    rules_changed_ms INTEGER,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS backup_sets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    plan_id TEXT NOT NULL REFERENCES backup_plans(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    db_type TEXT NOT NULL,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    crc64 TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS backup_sets_plan ON backup_sets(plan_id, kind, seq);
CREATE TABLE IF NOT EXISTS set_downloads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    set_id TEXT NOT NULL REFERENCES backup_sets(id),
    plan_id TEXT NOT NULL,
    way TEXT NOT NULL,
    data_format TEXT NOT NULL,
    target_type TEXT NOT NULL,
    location TEXT,
    dir TEXT,
    gateway_id INTEGER,
    task_id INTEGER REFERENCES tasks(id),
    client_token TEXT UNIQUE,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS set_downloads_plan ON set_downloads(plan_id, id);
CREATE TABLE IF NOT EXISTS backup_runs (
    set_id TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL REFERENCES backup_plans(id),
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    gateway_id INTEGER NOT NULL,
    method TEXT NOT NULL,
    trigger TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS backup_runs_plan ON backup_runs(plan_id, created_ms);
"#;

/// Creates the catalog's tables if missing; called by `store::open`.
pub fn apply_schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    add_set_crc64(conn)?;
    add_plan_columns(conn)
}

/// A data dir made before plans had a source and a schedule gets their
/// columns; its plans keep the status they had (`running`).
fn add_plan_columns(conn: &Connection) -> rusqlite::Result<()> {
    for (name, declaration) in plans::ADDED_COLUMNS {
        let present = conn
            .prepare("SELECT 1 FROM pragma_table_info('backup_plans') WHERE name = ?1")?
            .exists([name])?;
        if !present {
            conn.execute_batch(&format!(
                "ALTER TABLE backup_plans ADD COLUMN {name} {declaration}"
            ))?;
        }
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS backup_plans_due ON backup_plans(status, next_run_ms);
         CREATE UNIQUE INDEX IF NOT EXISTS backup_plans_client_token ON backup_plans(client_token);",
    )
}

/// A data dir made before tasks carried a CRC64 gets the column, filled
/// once from the set files. A set whose file cannot be read keeps an empty
/// value, which agents refuse with `Task.InvalidChecksum`.
fn add_set_crc64(conn: &Connection) -> rusqlite::Result<()> {
    let present = conn
        .prepare("SELECT 1 FROM pragma_table_info('backup_sets') WHERE name = 'crc64'")?
        .exists([])?;
    if present {
        return Ok(());
    }
    conn.execute_batch("ALTER TABLE backup_sets ADD COLUMN crc64 TEXT NOT NULL DEFAULT ''")?;
    let Some(data_dir) = sets::data_dir_of(conn) else {
        return Ok(());
    };
    let files: Vec<(String, String)> = conn
        .prepare("SELECT id, file FROM backup_sets")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, file) in files {
        match sets::crc64_of_file(&data_dir.join(&file)) {
            Ok(crc64) => {
                conn.execute(
                    "UPDATE backup_sets SET crc64 = ?1 WHERE id = ?2",
                    [crc64, id],
                )?;
            }
            Err(e) => {
                tracing::warn!(set = %id, %file, error = %e, "cannot compute the CRC64 of a set")
            }
        }
    }
    Ok(())
}

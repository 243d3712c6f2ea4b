//! The control plane's state: one SQLite database under the data dir.
//!
//! WAL mode with a busy timeout lets the admin CLI write while `serve` runs on
//! the same file. Calls run on the blocking pool; the connection sits behind a
//! std `Mutex` because it is never held across an `.await`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "dbs-control.sqlite3";

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS signature_nonces (
    access_key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (access_key_id, nonce)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS signature_nonces_expiry ON signature_nonces(expires_ms);
DROP TABLE IF EXISTS nonces;
CREATE TABLE IF NOT EXISTS gateways (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identifier TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    region TEXT NOT NULL,
    hostname TEXT NOT NULL DEFAULT '',
    intranet_ip TEXT NOT NULL DEFAULT '',
    internet_ip TEXT NOT NULL DEFAULT '',
    agent_version TEXT NOT NULL DEFAULT '',
    host_facts TEXT NOT NULL DEFAULT '{}',
    stopped INTEGER NOT NULL DEFAULT 0,
    last_heartbeat_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    gateway_id INTEGER NOT NULL REFERENCES gateways(id),
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until_ms INTEGER,
    progress TEXT,
    result TEXT,
    err_code TEXT,
    err_message TEXT,
    client_token TEXT UNIQUE,
    created_ms INTEGER NOT NULL,
    started_ms INTEGER,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_pending ON tasks(gateway_id, state);
"#;

/// A handle on the database, cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

/// Opens (and creates, the first time) the database of a data dir. The data
/// dir is made (or tightened to) 0700, the database and its `-wal`, `-shm`
/// and `-journal` files 0600, whatever the umask; SQLite gives the files it
/// creates later the database file's mode.
pub fn open(data_dir: &Path) -> rusqlite::Result<Store> {
    let io_error = |e: std::io::Error| rusqlite::Error::ToSqlConversionFailure(Box::new(e));
    super::files::private_dir(data_dir).map_err(io_error)?;
    let path = db_path(data_dir);
    super::files::touch_private(&path).map_err(io_error)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.clone().into_os_string();
        side.push(suffix);
        super::files::tighten(Path::new(&side), super::files::FILE_MODE).map_err(io_error)?;
    }
    let conn = Connection::open(&path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    super::keys::apply_schema(&conn)?;
    conn.execute_batch(SCHEMA)?;
    super::catalog::apply_schema(&conn)?;
    Ok(Store {
        conn: Arc::new(Mutex::new(conn)),
    })
}

/// Path of the database file of a data dir.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

impl Store {
    /// Runs `f` on the connection, on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> rusqlite::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .expect("store call panicked")
    }

    /// Runs `f` on the connection in this thread (for the admin CLI).
    pub fn call_now<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Records a key's nonce, kept until `expires_ms` (the last moment its
/// call's timestamp is accepted); false when it was seen already.
pub fn record_nonce(
    conn: &Connection,
    access_key_id: &str,
    nonce: &str,
    expires_ms: i64,
) -> rusqlite::Result<bool> {
    let inserted = conn.execute(
        "INSERT OR IGNORE INTO signature_nonces (access_key_id, nonce, expires_ms)
         VALUES (?1, ?2, ?3)",
        (access_key_id, nonce, expires_ms),
    )?;
    Ok(inserted == 1)
}

/// Forgets nonces whose calls' timestamps are refused at `now_ms` anyway.
pub fn prune_nonces(conn: &Connection, now_ms: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM signature_nonces WHERE expires_ms < ?1",
        [now_ms],
    )
}

//! The checks a backup plan runs on its gateway before its first backup:
//! can the agent log in, does the user hold the privileges the backup
//! method needs, and (physical backups) is the backup tool here, of the
//! server's version, with the data directory readable. Every item is run
//! and reported, failed ones with a stable code.

use std::ffi::OsStr;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::physical::{self, Tool};
use super::BackupError;
use crate::api::gateway::BackupMethod;
use crate::discovery::mysql::connect;
use crate::discovery::Login;

/// Global privileges a physical backup needs (MariaDB 10.5 and later name
/// `REPLICATION CLIENT` `BINLOG MONITOR`).
pub const PHYSICAL_PRIVILEGES: [&str; 4] = ["RELOAD", "PROCESS", "LOCK TABLES", "BINLOG MONITOR"];
/// Privileges a logical backup needs: the read lock, the rows, the views
/// and the binlog position.
pub const LOGICAL_PRIVILEGES: [&str; 4] = ["RELOAD", "SELECT", "SHOW VIEW", "BINLOG MONITOR"];

/// One check and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What was checked: `Connectivity`, `Privileges`, `BackupTool`,
    /// `DataDirectory`.
    pub name: &'static str,
    /// The failure's code, `None` when it passed.
    pub code: Option<&'static str>,
    /// What was found.
    pub message: String,
}

impl Item {
    fn passed(name: &'static str, message: impl Into<String>) -> Item {
        Item {
            name,
            code: None,
            message: message.into(),
        }
    }

    fn failed(name: &'static str, code: &'static str, message: impl Into<String>) -> Item {
        Item {
            name,
            code: Some(code),
            message: message.into(),
        }
    }

    fn from_error(name: &'static str, e: &BackupError) -> Item {
        Item::failed(name, e.code(), e.to_string())
    }
}

/// Runs every check of `method` against the server of `login`; the backup
/// tool is looked for in `tool_path` (`PATH`'s syntax: the agent's `PATH`).
pub async fn run(login: &Login, method: BackupMethod, tool_path: &OsStr) -> Vec<Item> {
    let mut items = Vec::new();
    let mut conn = match connect(login).await {
        Ok(conn) => {
            items.push(Item::passed(
                "Connectivity",
                format!("logged in to {}", login.endpoint()),
            ));
            conn
        }
        Err(e) => {
            let e = BackupError::from(e);
            items.push(Item::from_error("Connectivity", &e));
            return items;
        }
    };
    let needed: &[&str] = match method {
        BackupMethod::Physical => &PHYSICAL_PRIVILEGES,
        BackupMethod::Logical => &LOGICAL_PRIVILEGES,
    };
    items.push(match missing_privileges(&mut conn, needed).await {
        Ok(missing) if missing.is_empty() => {
            Item::passed("Privileges", format!("holds {}", needed.join(", ")))
        }
        Ok(missing) => Item::failed(
            "Privileges",
            "Backup.AccessDenied",
            format!("the backup user lacks {}", missing.join(", ")),
        ),
        Err(e) => Item::failed("Privileges", "Backup.QueryFailed", e.to_string()),
    });
    if method == BackupMethod::Physical {
        match physical::find_tool_in(tool_path).await {
            Ok(tool) => {
                items.push(tool_item(login, &tool).await);
                items.push(datadir_item(&mut conn).await);
            }
            Err(e) => items.push(Item::from_error("BackupTool", &e)),
        }
    }
    if let Err(e) = conn.disconnect().await {
        tracing::debug!(error = %e, "mysql disconnect");
    }
    items
}

/// The global privileges of `needed` the current user does not hold.
async fn missing_privileges(
    conn: &mut Conn,
    needed: &[&str],
) -> Result<Vec<String>, mysql_async::Error> {
    let held: Vec<String> = conn
        .query(
            "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES \
             WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), \
                                    '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')",
        )
        .await?;
    // `REPLICATION CLIENT` is the older name of `BINLOG MONITOR`.
    let holds = |p: &str| {
        held.iter()
            .any(|h| h == p || (p == "BINLOG MONITOR" && h == "REPLICATION CLIENT"))
    };
    Ok(needed
        .iter()
        .filter(|p| !holds(p))
        .map(|p| p.to_string())
        .collect())
}

async fn tool_item(login: &Login, tool: &Tool) -> Item {
    match physical::check_versions(login, tool).await {
        Ok(server) => Item::passed(
            "BackupTool",
            format!(
                "{} {} for server {server}",
                tool.path.display(),
                tool.version
            ),
        ),
        Err(e) => Item::from_error("BackupTool", &e),
    }
}

/// The server's data directory must be readable by the agent: the tool
/// copies its files.
async fn datadir_item(conn: &mut Conn) -> Item {
    let datadir: Option<String> = match conn.query_first("SELECT @@datadir").await {
        Ok(dir) => dir,
        Err(e) => return Item::failed("DataDirectory", "Backup.QueryFailed", e.to_string()),
    };
    let Some(datadir) = datadir else {
        return Item::failed("DataDirectory", "Backup.DataDirUnreadable", "no @@datadir");
    };
    match std::fs::read_dir(&datadir) {
        Ok(_) => Item::passed("DataDirectory", format!("{datadir} is readable")),
        Err(e) => Item::failed(
            "DataDirectory",
            "Backup.DataDirUnreadable",
            format!(
                "{datadir}: {e} (the tool copies its files: run the agent where it can read them)"
            ),
        ),
    }
}

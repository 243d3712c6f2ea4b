//! Why a backup failed, with stable codes.

use crate::discovery::DiscoveryError;

/// A backup that could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database could not be reached or refused the login.
    #[error(transparent)]
    Connect(#[from] DiscoveryError),
    /// The backup user lacks a privilege the backup needs.
    #[error("{endpoint}: the backup user lacks the {privilege} privilege: {detail}")]
    Privilege {
        endpoint: String,
        privilege: &'static str,
        detail: String,
    },
    /// `BackupObjects` names a database or table the server does not have.
    #[error("{endpoint}: BackupObjects names {name}, which the server does not have")]
    ObjectNotFound { endpoint: String, name: String },
    /// A statement of the backup failed.
    #[error("{endpoint}: {what}: {detail}")]
    Query {
        endpoint: String,
        what: String,
        detail: String,
    },
    /// No backup tool on this host.
    #[error("no {names} on PATH: install the backup tool of the server's version")]
    ToolMissing { names: String },
    /// The backup tool's version does not match the server's.
    #[error("{tool} is version {tool_version}, the server {server_version}: their major.minor must be equal")]
    ToolVersion {
        tool: String,
        tool_version: String,
        server_version: String,
    },
    /// A physical backup of a server that is not MariaDB: MySQL's needs
    /// Percona XtraBackup, which this gateway does not run yet.
    #[error("{endpoint}: the server is {server_version}, not MariaDB: physical backups of MySQL need Percona XtraBackup, which this gateway does not run yet; take a logical backup")]
    ServerNotMariaDb {
        endpoint: String,
        server_version: String,
    },
    /// The backup tool could not run or exited with an error.
    #[error("{tool}: {detail}")]
    ToolFailed { tool: String, detail: String },
    /// The backup's private work directory could not be made.
    #[error("{path}: {detail}")]
    WorkDir { path: String, detail: String },
    /// The reader of the backup stream went away.
    #[error("the backup stream was closed by its reader")]
    Cancelled,
}

impl BackupError {
    /// Stable error code reported to the control plane.
    pub fn code(&self) -> &'static str {
        match self {
            BackupError::Connect(e) => e.code(),
            BackupError::Privilege { .. } => "Backup.AccessDenied",
            BackupError::ObjectNotFound { .. } => "Backup.ObjectNotFound",
            BackupError::Query { .. } => "Backup.QueryFailed",
            BackupError::ToolMissing { .. } => "Backup.ToolMissing",
            BackupError::ToolVersion { .. } => "Backup.ToolVersionMismatch",
            BackupError::ServerNotMariaDb { .. } => "Backup.PhysicalNeedsMariaDb",
            BackupError::ToolFailed { .. } => "Backup.ToolFailed",
            BackupError::WorkDir { .. } => "Backup.WorkDir",
            BackupError::Cancelled => "Backup.Cancelled",
        }
    }
}

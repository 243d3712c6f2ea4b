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
            BackupError::Cancelled => "Backup.Cancelled",
        }
    }
}

//! Runs one leased task and turns its outcome into a report.
//!
//! Each task kind has an executor; an executor returns the result JSON or a
//! [`TaskError`] with a stable code. Executors know nothing of leases or the
//! control plane: [`super::runtime`] reports for them.

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::api::gateway::TaskSpec;
use crate::config::GatewayConfig;
use crate::discovery::{self, DatabaseType, DiscoveryError, ListRequest};

/// A task that failed, with the code and message reported to the control plane.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct TaskError {
    /// Stable error code.
    pub code: String,
    /// Plain-words explanation (never a secret).
    pub message: String,
}

impl TaskError {
    /// A task error.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        TaskError {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Runs a task to its end (or to a resumable point when `cancel` fires).
pub async fn execute(
    spec: &TaskSpec,
    config: &GatewayConfig,
    cancel: &CancellationToken,
) -> Result<Value, TaskError> {
    let _ = cancel;
    match spec {
        TaskSpec::GetDbList {
            database_type,
            source_endpoint_ip,
            source_endpoint_port,
        } => {
            list_databases(
                config,
                database_type,
                source_endpoint_ip,
                *source_endpoint_port,
            )
            .await
        }
        TaskSpec::DownloadBackupSet(_) => Err(TaskError::new(
            "Task.Unsupported",
            "downloading backup sets is not built into this agent yet",
        )),
    }
}

/// Lists the databases of an endpoint with the credentials configured for it.
async fn list_databases(
    config: &GatewayConfig,
    database_type: &str,
    host: &str,
    port: u16,
) -> Result<Value, TaskError> {
    let db_type: DatabaseType = database_type.parse().map_err(|_| {
        TaskError::new(
            "UnsupportedDatabaseType",
            format!("this gateway cannot list {database_type} databases"),
        )
    })?;
    let request = ListRequest {
        db_type,
        host: host.to_string(),
        port,
    };
    match discovery::list_databases(&config.databases, &request).await {
        Ok(listing) => Ok(serde_json::to_value(listing).expect("a listing serializes")),
        Err(error @ DiscoveryError::EndpointNotConfigured { .. }) => Err(TaskError::new(
            error.code(),
            format!(
                "{error}; add a [[databases]] entry for it to {}",
                config.path.display()
            ),
        )),
        Err(error) => Err(TaskError::new(error.code(), error.to_string())),
    }
}

/// A short name of the task kind, for logs.
pub fn kind(spec: &TaskSpec) -> &'static str {
    match spec {
        TaskSpec::GetDbList { .. } => "GetDBList",
        TaskSpec::DownloadBackupSet(_) => "DownloadBackupSet",
    }
}

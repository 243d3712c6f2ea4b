//! Runs one leased task and turns its outcome into a report.
//!
//! Each task kind has an executor; an executor returns the result JSON or a
//! [`TaskError`] with a stable code. Executors know nothing of leases or the
//! control plane: [`super::runtime`] reports for them.

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::api::gateway::TaskSpec;
use crate::config::GatewayConfig;

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
    let _ = (config, cancel);
    match spec {
        TaskSpec::GetDbList { database_type, .. } => Err(TaskError::new(
            "Task.Unsupported",
            format!("listing {database_type} databases is not built into this agent yet"),
        )),
    }
}

/// A short name of the task kind, for logs.
pub fn kind(spec: &TaskSpec) -> &'static str {
    match spec {
        TaskSpec::GetDbList { .. } => "GetDBList",
    }
}

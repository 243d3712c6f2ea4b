//! Runs one leased task and says how it ended.
//!
//! Each task kind has an executor; an executor returns the result JSON, a
//! [`TaskError`] with a stable code, or [`Outcome::Interrupted`] when the
//! agent is shutting down (the task is then left to its lease, and offered
//! again, resumable, after the restart). Executors know nothing of leases or
//! the control plane: [`super::runtime`] reports for them.

use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::api::gateway::{DownloadSpec, TaskSpec};
use crate::config::GatewayConfig;
use crate::discovery::{self, DatabaseType, DiscoveryError, ListRequest};
use crate::transfer::downloader::Downloader;
use crate::transfer::error::TransferError;
use crate::transfer::progress::{Progress, ProgressFn};

use super::client::ControlClient;

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

/// How a task ended.
#[derive(Debug)]
pub enum Outcome {
    /// Done: the result to report.
    Done(Value),
    /// Failed for good: the error to report.
    Failed(TaskError),
    /// Stopped by shutdown at a resumable point: nothing to report.
    Interrupted,
}

/// What executors may use.
pub struct TaskContext<'a> {
    /// The configuration.
    pub config: &'a GatewayConfig,
    /// Runs downloads within the `[transfer]` limits.
    pub downloader: &'a Downloader,
    /// The control plane's URL: download URLs must have its origin unless
    /// `transfer.allowed_url_hosts` says otherwise.
    pub control_url: &'a str,
    /// Where progress goes (JSON), for the runtime to report.
    pub progress: watch::Sender<Option<Value>>,
    /// The signed client of the control plane (uploads go through it).
    pub client: &'a ControlClient,
}

impl TaskContext<'_> {
    /// A pipeline progress callback that publishes `BytesDone`,
    /// `BytesTotal`, `Percent` and `BytesPerSecond`.
    pub fn progress_fn(&self) -> ProgressFn {
        let progress = self.progress.clone();
        Box::new(move |p: &Progress| {
            progress.send_replace(Some(json!({
                "BytesDone": p.done,
                "BytesTotal": p.total,
                "Percent": p.percent,
                "BytesPerSecond": p.rate_bytes_per_sec,
            })));
        })
    }
}

/// Runs a task to its end (or to a resumable point when `cancel` fires).
pub async fn execute(
    spec: &TaskSpec,
    ctx: &TaskContext<'_>,
    cancel: &CancellationToken,
) -> Outcome {
    let result = match spec {
        TaskSpec::GetDbList {
            database_type,
            source_endpoint_ip,
            source_endpoint_port,
        } => {
            list_databases(
                ctx.config,
                database_type,
                source_endpoint_ip,
                *source_endpoint_port,
            )
            .await
        }
        TaskSpec::DownloadBackupSet(download) => match download_set(download, ctx, cancel).await {
            Err(TransferError::Cancelled) => return Outcome::Interrupted,
            other => other.map_err(|e| TaskError::new(e.code(), e.to_string())),
        },
        TaskSpec::Backup(backup) => return super::backup::run(backup, ctx, cancel).await,
        TaskSpec::PreCheck(check) => super::precheck::run(ctx.config, check)
            .await
            .map(|result| serde_json::to_value(result).expect("a pre-check result serializes")),
    };
    match result {
        Ok(value) => Outcome::Done(value),
        Err(error) => Outcome::Failed(error),
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
    discovery::list_databases(&config.databases, &request)
        .await
        .map(super::listing::report_result)
        .map_err(|error| endpoint_error(config, error))
}

/// A discovery failure as a task error; an endpoint without a
/// `[[databases]]` entry says where to add one.
pub(super) fn endpoint_error(config: &GatewayConfig, error: DiscoveryError) -> TaskError {
    match error {
        DiscoveryError::EndpointNotConfigured { .. } => TaskError::new(
            error.code(),
            format!(
                "{error}; add a [[databases]] entry for it to {}",
                config.path.display()
            ),
        ),
        other => TaskError::new(other.code(), other.to_string()),
    }
}

/// Streams a backup set into its target, publishing progress as it goes.
async fn download_set(
    spec: &DownloadSpec,
    ctx: &TaskContext<'_>,
    cancel: &CancellationToken,
) -> Result<Value, TransferError> {
    let outcome = ctx
        .downloader
        .run(spec, ctx.control_url, ctx.progress_fn(), cancel)
        .await?;
    Ok(json!({
        "Location": outcome.location,
        "Size": outcome.size,
        "CRC64": outcome.checksum.value(),
        "ResumedFrom": outcome.resumed_from,
        "Downloaded": outcome.downloaded,
        "Attempts": outcome.attempts,
        "ElapsedMs": outcome.elapsed.as_millis() as u64,
    }))
}

//! The executor of backup tasks: a full backup of a MySQL / MariaDB of
//! gateway.toml's `[[databases]]` (matched by IP and port; its credentials
//! are the entry's, none travel in a task), taken as a
//! [`BackupSource`] and stored through the transfer pipeline into the
//! control plane's upload route ([`UploadTarget`]), with CRC64, the
//! throttle and progress like a download.
//!
//! The backup's producer (the tool's pipe, row formatting) runs on a
//! runtime of its own, built once, never on the agent's network thread.
//!
//! A backup stream cannot be resumed: a shutdown mid-backup leaves the task
//! to its lease ([`Outcome::Interrupted`]), and the next attempt takes a
//! new backup and uploads it from offset 0 (which discards what the control
//! plane held). MSSQL backups are refused (SQL Server cannot run here to
//! verify them), Redis backups too (not built yet).

use std::sync::{Arc, OnceLock};

use crate::api::backup_objects;
use crate::api::gateway::{BackupResult, BackupSpec, SourceEndpoint};
use crate::api::layout::RelPath;
use crate::backup::logical::LogicalOptions;
use crate::backup::source::{BackupJob, BackupSource, BackupSummary};
use crate::config::GatewayConfig;
use crate::discovery::{self, DatabaseType, ListRequest, Login};
use crate::transfer::downloader::options_from;
use crate::transfer::pipeline;
use crate::transfer::sinks::{SinkError, Target};
use crate::transfer::throttle::Throttle;
use crate::transfer::TransferError;

use super::tasks::{Outcome, TaskContext, TaskError};
use super::upload::UploadTarget;

/// Error code of a backup of a database type this gateway does not back up.
pub const UNSUPPORTED_TYPE: &str = "Backup.UnsupportedDatabaseType";

/// Error code of a backup whose upload to the control plane failed.
pub const UPLOAD_FAILED: &str = "Backup.UploadFailed";

/// Error code of a backup refused by the control plane for a full data dir.
pub const UPLOAD_STORAGE_FULL: &str = "Backup.ControlStorageFull";

/// Most threads of the producers' runtime.
const MAX_PRODUCER_THREADS: usize = 4;

/// The runtime backups are produced on, built at the first backup: one
/// thread for every two cores. The database server does most of a logical
/// backup's work (it reads and prints every row), so half the cores are
/// left to it; on two cores a single thread also spares the readers'
/// connections from sharing the driver's buffer pool across threads
/// (measured on the bench: about 10 % less agent CPU).
fn producers() -> Result<&'static tokio::runtime::Runtime, TaskError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get() / 2)
        .clamp(1, MAX_PRODUCER_THREADS);
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("backup-producer")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| TaskError::new("Backup.Failed", format!("starting the backup runtime: {e}")))
}

/// The login of the `[[databases]]` entry of `source`, which must be a
/// MySQL (or MariaDB): the one type backed up and checked here.
pub(super) fn mysql_login(
    config: &GatewayConfig,
    source: &SourceEndpoint,
) -> Result<Login, TaskError> {
    let db_type: DatabaseType = source
        .database_type
        .parse()
        .map_err(|e: discovery::DiscoveryError| TaskError::new(e.code(), e.to_string()))?;
    let why = match db_type {
        DatabaseType::Mysql => None,
        DatabaseType::Mssql => Some(
            "MSSQL backups are not taken by this gateway: SQL Server cannot run here to verify them",
        ),
        DatabaseType::Redis => Some("Redis backups are not taken by this gateway yet"),
    };
    if let Some(why) = why {
        return Err(TaskError::new(UNSUPPORTED_TYPE, why));
    }
    let request = ListRequest {
        db_type,
        host: source.source_endpoint_ip.clone(),
        port: source.source_endpoint_port,
    };
    discovery::login_for(&config.databases, &request)
        .map_err(|error| super::tasks::endpoint_error(config, error))
}

/// Takes the backup `spec` asks for and uploads it as its set.
pub async fn run(
    spec: &BackupSpec,
    ctx: &TaskContext<'_>,
    cancel: &tokio_util::sync::CancellationToken,
) -> Outcome {
    match backup(spec, ctx, cancel).await {
        Ok(result) => Outcome::Done(serde_json::to_value(result).expect("results serialize")),
        Err(None) => Outcome::Interrupted,
        Err(Some(error)) => Outcome::Failed(error),
    }
}

/// The result, or the error (`None`: interrupted by shutdown).
async fn backup(
    spec: &BackupSpec,
    ctx: &TaskContext<'_>,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<BackupResult, Option<TaskError>> {
    let config = ctx.config;
    let login = mysql_login(config, &spec.source)?;
    let objects = backup_objects::parse(spec.backup_objects.as_deref().unwrap_or(""))
        .map_err(|e| TaskError::new(e.code(), e.to_string()))?;
    let target = UploadTarget::new(
        ctx.client.clone(),
        &spec.backup_set_id,
        options_from(&config.transfer, None).retry,
    )
    .map_err(|e| TaskError::new(UPLOAD_FAILED, e.to_string()))?;
    let completed = target
        .completed()
        .await
        .map_err(|e| TaskError::new(UPLOAD_FAILED, e.to_string()))?;
    if let Some(set) = completed {
        // An earlier attempt completed the upload, then stopped before its
        // report: that set is the backup, none is taken again.
        tracing::info!(set = %set.backup_set_id, size = set.size,
            "the set was uploaded whole by an earlier attempt; reporting it");
        return Ok(BackupResult {
            size: set.size,
            crc64: set.crc64,
            binlog_position: None,
        });
    }
    let job = BackupJob::new(
        spec.backup_method,
        objects,
        LogicalOptions::default().threads,
        &config.gateway.state_dir,
    )
    .await
    .map_err(|e| TaskError::new(e.code(), e.to_string()))?;
    let uploads = target.kind();
    let failed = |e: TransferError| {
        let code = match &e {
            TransferError::Sink(SinkError::Remote { target, .. }) if *target == uploads => {
                UPLOAD_FAILED
            }
            TransferError::Sink(SinkError::NoSpace { target, .. }) if *target == uploads => {
                UPLOAD_STORAGE_FULL
            }
            _ => e.code(),
        };
        TaskError::new(code, e.to_string())
    };
    let path = RelPath::component("BackupSetId", &spec.backup_set_id)
        .map_err(|e| TaskError::new(e.code(), e.to_string()))?;
    let limit = [
        spec.speed_limit_kib.map(|kib| kib.saturating_mul(1024)),
        config.transfer.bandwidth_limit(),
    ]
    .into_iter()
    .flatten()
    .filter(|&b| b > 0)
    .min();
    let options = options_from(&config.transfer, limit.map(|b| Arc::new(Throttle::new(b))));
    let backup = BackupSource::start(login, job, producers()?.handle());
    tracing::info!(set = %spec.backup_set_id, method = spec.backup_method.as_str(),
        bytes_per_sec = limit, "backup starts");
    let stored =
        pipeline::store(&backup, &target, &path, &options, ctx.progress_fn(), cancel).await;
    let outcome = match stored {
        Err(TransferError::Cancelled) => return Err(None),
        other => other.map_err(failed)?,
    };
    let binlog_position = match backup.summary() {
        Some(BackupSummary::Logical(summary)) => {
            summary.binlog.map(|b| format!("{}:{}", b.file, b.position))
        }
        _ => None,
    };
    Ok(BackupResult {
        size: outcome.size,
        crc64: outcome.checksum.value(),
        binlog_position,
    })
}

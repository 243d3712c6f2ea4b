//! The one-shot backup commands. `dbs-gateway precheck` runs a plan's
//! pre-checks against one database. `dbs-gateway backup` takes one backup of a
//! MySQL / MariaDB of gateway.toml's `[[databases]]` (its credentials come
//! from there), stored into one of its `[targets.*]` through the transfer
//! pipeline (CRC64, the `[transfer]` bandwidth limit), committed under its
//! final name only when the backup ended cleanly.

use std::sync::Arc;

use super::precheck;
use super::source::{BackupJob, BackupSource, BackupSummary};
use super::BackupError;
use crate::api::backup_objects::{self, ObjectsError};
use crate::api::gateway::BackupMethod;
use crate::api::layout::{PathError, RelPath};
use crate::config::GatewayConfig;
use crate::discovery::{self, DatabaseType, DiscoveryError, ListRequest};
use crate::transfer::cli::Console;
use crate::transfer::downloader::options_from;
use crate::transfer::pipeline::{self, DownloadOutcome};
use crate::transfer::throttle::Throttle;
use crate::transfer::TransferError;

/// How the backup takes its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// `mariadb-backup --stream=xbstream`.
    Physical,
    /// SQL through the driver, tables in parallel.
    Logical,
}

impl From<MethodArg> for BackupMethod {
    fn from(method: MethodArg) -> BackupMethod {
        match method {
            MethodArg::Physical => BackupMethod::Physical,
            MethodArg::Logical => BackupMethod::Logical,
        }
    }
}

/// Which database of gateway.toml, and how a backup takes it.
#[derive(Debug, Clone, clap::Args)]
pub struct PrecheckRequest {
    /// Host or IP address, as written in the `[[databases]]` entry.
    #[arg(long)]
    pub host: String,
    /// Port (default 3306).
    #[arg(long)]
    pub port: Option<u16>,
    /// physical (mariadb-backup) or logical (SQL).
    #[arg(long, value_enum)]
    pub method: MethodArg,
}

/// What `dbs-gateway backup` was asked for.
#[derive(Debug, Clone, clap::Args)]
pub struct BackupRequest {
    /// The database and the method.
    #[command(flatten)]
    pub database: PrecheckRequest,
    /// BackupObjects JSON for a logical backup, e.g.
    /// `[{"DBName":"shop","TableIncludes":[{"TableName":"orders"}]}]`;
    /// every user database when absent.
    #[arg(long)]
    pub objects: Option<String>,
    /// Tables read at once by a logical backup.
    #[arg(long, default_value_t = 4)]
    pub threads: usize,
    /// A configured target: `local`, `nas`, `ftp`, `minio`, optionally
    /// followed by `:dir/inside`.
    #[arg(long)]
    pub to: String,
    /// File name (default `{method}-{UTC time}.{xb|sql}`).
    #[arg(long)]
    pub name: Option<String>,
}

/// Runs the pre-checks of a backup of `request.method` and prints one line
/// per item (`ok` or its code, and what was found); true when all passed.
pub async fn run_precheck_cli(
    config: &GatewayConfig,
    request: &PrecheckRequest,
) -> Result<bool, CliError> {
    let login = discovery::login_for(
        &config.databases,
        &mysql_request(&request.host, request.port),
    )?;
    let items = precheck::run(
        &login,
        request.method.into(),
        &std::env::var_os("PATH").unwrap_or_default(),
    )
    .await;
    for item in &items {
        println!(
            "{:<14} {:<28} {}",
            item.name,
            item.code.unwrap_or("ok"),
            item.message
        );
    }
    Ok(items.iter().all(|i| i.code.is_none()))
}

fn mysql_request(host: &str, port: Option<u16>) -> ListRequest {
    ListRequest {
        db_type: DatabaseType::Mysql,
        host: host.to_string(),
        port: port.unwrap_or(DatabaseType::Mysql.default_port()),
    }
}

/// Why the command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The database entry or its login.
    #[error(transparent)]
    Database(#[from] DiscoveryError),
    /// `--objects`.
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    /// The backup itself (tool missing, privileges, …).
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// Storing it.
    #[error(transparent)]
    Transfer(#[from] TransferError),
    /// `--to` names no configured target.
    #[error("--to {to}: {reason}")]
    Destination { to: String, reason: String },
    /// `--to`'s directory or `--name` breaks the path rules.
    #[error(transparent)]
    Path(#[from] PathError),
}

impl CliError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            CliError::Database(e) => e.code(),
            CliError::Objects(e) => e.code(),
            CliError::Backup(e) => e.code(),
            CliError::Transfer(e) => e.code(),
            CliError::Destination { .. } => "Task.UnknownLocation",
            CliError::Path(e) => e.code(),
        }
    }
}

/// Takes the backup `request` names and stores it; prints
/// `crc64:… LOCATION` on stdout and a summary on stderr.
pub async fn run_backup_cli(
    config: &GatewayConfig,
    request: &BackupRequest,
) -> Result<(DownloadOutcome, Option<BackupSummary>), CliError> {
    let database = &request.database;
    let login = discovery::login_for(
        &config.databases,
        &mysql_request(&database.host, database.port),
    )?;
    let method = BackupMethod::from(database.method);
    let objects = backup_objects::parse(request.objects.as_deref().unwrap_or(""))?;
    let job = BackupJob::new(method, objects, request.threads, &config.gateway.state_dir).await?;
    let (location, dir) = request
        .to
        .split_once(':')
        .unwrap_or((request.to.as_str(), ""));
    let destination = |reason: String| CliError::Destination {
        to: request.to.clone(),
        reason,
    };
    let target = config.sinks.get(location).ok_or_else(|| {
        destination(format!(
            "no [targets.{location}] in {} (configured: {})",
            config.path.display(),
            config.sinks.locations().join(", ")
        ))
    })?;
    let name = request.name.clone().unwrap_or_else(|| {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        format!("{}-{stamp}.{}", method.as_str(), method.extension())
    });
    let path = path_in(dir, &name)?;

    let throttle = config
        .transfer
        .bandwidth_limit()
        .map(|b| Arc::new(Throttle::new(b)));
    let mut options = options_from(&config.transfer, throttle);
    let (console, progress) = Console::start(&mut options);
    let source = BackupSource::start(login, job, &tokio::runtime::Handle::current());
    let stored = pipeline::store(
        &source,
        target.as_ref(),
        &path,
        &options,
        progress,
        &console.cancel,
    )
    .await;
    console.finish();
    let outcome = match stored {
        Err(TransferError::Cancelled) => return Err(BackupError::Cancelled.into()),
        other => other?,
    };
    let summary = source.summary();
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "{} bytes in {:.2} s ({:.1} MB/s)",
        outcome.size,
        secs,
        outcome.size as f64 / secs / 1e6
    );
    if let Some(BackupSummary::Logical(s)) = &summary {
        eprintln!(
            "{} databases, {} tables, {} rows; binlog {}",
            s.databases,
            s.tables,
            s.rows,
            s.binlog
                .as_ref()
                .map(|b| format!("{} {} (gtid {})", b.file, b.position, b.gtid))
                .unwrap_or_else(|| "off".into())
        );
    }
    println!("{}  {}", outcome.checksum, outcome.location);
    Ok((outcome, summary))
}

/// `dir/name` inside the target, both checked by the layout rules.
fn path_in(dir: &str, name: &str) -> Result<RelPath, PathError> {
    let file = RelPath::component("--name", name)?;
    if dir.is_empty() {
        return Ok(file);
    }
    RelPath::parse("--to", dir)?.join("--to", &file)
}

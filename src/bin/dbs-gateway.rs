//! dbs-gateway: the backup-gateway agent and its operator commands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use dbs_gateway::agent::{self, check};
use dbs_gateway::backup::cli::{run_backup_cli, run_precheck_cli, BackupRequest, PrecheckRequest};
use dbs_gateway::config::GatewayConfig;
use dbs_gateway::discovery::{self, DatabaseType};
use dbs_gateway::transfer::Checksum;

/// Default location of the configuration file.
const DEFAULT_CONFIG: &str = "/etc/dbs-gateway/gateway.toml";

#[derive(Parser)]
#[command(
    name = "dbs-gateway",
    version,
    about = "Backup-gateway agent for a database backup service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent: heartbeat, poll for tasks, run them.
    Run {
        /// The configuration file.
        #[arg(long, short, default_value = DEFAULT_CONFIG, env = "DBS_GATEWAY_CONFIG")]
        config: PathBuf,
    },
    /// Check the configuration and what it points at; exit non-zero on any problem.
    Check {
        /// The configuration file.
        #[arg(long, short, default_value = DEFAULT_CONFIG, env = "DBS_GATEWAY_CONFIG")]
        config: PathBuf,
    },
    /// Download one URL into a local or NAS path, resumable and verified.
    Download {
        /// The URL (http or https).
        url: String,
        /// Where to: `local:/dir`, `local:/dir/file`, `nas:/mountpoint[/file]`,
        /// `ftp:[root]`, `minio:[bucket[/prefix]]`.
        #[arg(long)]
        to: String,
        /// gateway.toml whose `[targets.ftp]` / `[targets.minio]` hold the
        /// servers and credentials for `ftp:` and `minio:`.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Expected CRC-64/ECMA-182 (decimal, as object stores report it);
        /// the file is kept only when it matches.
        #[arg(long, value_parser = parse_crc64, conflicts_with = "sha256")]
        crc64: Option<Checksum>,
        /// Expected SHA-256 (hex) instead; costs far more CPU than --crc64.
        #[arg(long, value_parser = parse_sha256)]
        sha256: Option<Checksum>,
        /// Expected size in bytes (default: asked from the server with HEAD).
        #[arg(long)]
        size: Option<u64>,
        /// Bandwidth limit in bytes per second, e.g. `50MiB`.
        #[arg(long)]
        limit: Option<bytesize::ByteSize>,
    },
    /// Take one backup of a MySQL / MariaDB of gateway.toml into one of its targets.
    Backup {
        /// The configuration file (its `[[databases]]` entry holds the login).
        #[arg(long, short, default_value = DEFAULT_CONFIG, env = "DBS_GATEWAY_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        request: BackupRequest,
    },
    /// Check that a backup of a MySQL / MariaDB of gateway.toml can run: login, privileges, tool.
    Precheck {
        /// The configuration file (its `[[databases]]` entry holds the login).
        #[arg(long, short, default_value = DEFAULT_CONFIG, env = "DBS_GATEWAY_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        request: PrecheckRequest,
    },
    /// List the databases of an endpoint with the credentials of gateway.toml.
    ListDbs {
        /// The configuration file (its `[[databases]]` entries are read).
        #[arg(long, short, default_value = DEFAULT_CONFIG, env = "DBS_GATEWAY_CONFIG")]
        config: PathBuf,
        /// mysql, mssql or redis.
        #[arg(long = "type", value_name = "TYPE")]
        db_type: DatabaseType,
        /// Host or IP address, as written in the `[[databases]]` entry.
        #[arg(long)]
        host: String,
        /// Port; default: 3306 (mysql), 1433 (mssql), 6379 (redis).
        #[arg(long)]
        port: Option<u16>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Run { config } => run(&config),
        Command::Check { config } => check(&config),
        Command::Download {
            url,
            to,
            config,
            crc64,
            sha256,
            size,
            limit,
        } => download(
            &url,
            &to,
            config.as_deref(),
            crc64.or(sha256),
            size,
            limit.map(|l| l.as_u64()),
        ),
        Command::Backup { config, request } => backup(&config, &request),
        Command::Precheck { config, request } => precheck(&config, &request),
        Command::ListDbs {
            config,
            db_type,
            host,
            port,
            json,
        } => list_dbs(&config, db_type, host, port, json),
        Command::Version => {
            println!(
                "dbs-gateway {} (commit {})\ntargets: local, nas, ftp, minio\ndatabases: mysql, mssql, redis\nbackups: mysql/mariadb physical (mariadb-backup), logical",
                env!("CARGO_PKG_VERSION"),
                env!("DBS_GATEWAY_COMMIT")
            );
            Ok(ExitCode::SUCCESS)
        }
    };
    result.unwrap_or_else(|error| {
        eprintln!("dbs-gateway: {error:#}");
        ExitCode::FAILURE
    })
}

fn load(path: &std::path::Path) -> anyhow::Result<GatewayConfig> {
    GatewayConfig::load(path).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))
}

/// The agent's runtime: one thread for all network work. The CPU-heavy
/// parts run on blocking threads of their own (the local writer, S3 part
/// checksums), so the network thread only moves bytes; a multi-thread
/// runtime moved every HTTP body chunk between threads and cost about 20 %
/// more CPU per download on two cores (docs/targets.md).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let config = load(path)?;
    dbs_gateway::logging::init(&config.log.level, config.log.format);
    runtime()?.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(dbs_gateway::shutdown::cancel_on_signal(shutdown.clone()));
        agent::run(config, shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn check(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let config = match GatewayConfig::load(path) {
        Ok(config) => config,
        Err(e) => {
            for problem in &e.problems {
                println!("FAIL  config {problem}");
            }
            if e.problems
                .iter()
                .any(|p| p.contains("control.access_key_id: is empty"))
            {
                println!(
                    "dbs-gateway is not configured yet: set [control] endpoint, access_key_id and the secret in {} (see /usr/share/doc/dbs-gateway/install.md)",
                    path.display()
                );
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    println!("ok    config {}", path.display());
    let lines = runtime()?.block_on(async {
        let mut lines = vec![
            check::check_state_dir(&config),
            check::check_control_plane(&config).await,
        ];
        lines.extend(check::check_databases(&config).await);
        lines.extend(check::check_targets(&config).await);
        lines
    });
    for line in &lines {
        println!("{line}");
    }
    Ok(if lines.iter().all(|l| l.problem.is_none()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn parse_crc64(value: &str) -> Result<Checksum, String> {
    Checksum::parse_crc64(value).ok_or_else(|| "not an unsigned 64-bit decimal".to_owned())
}

fn parse_sha256(value: &str) -> Result<Checksum, String> {
    Checksum::parse_sha256(value).ok_or_else(|| "not 64 hex digits".to_owned())
}

fn download(
    url: &str,
    to: &str,
    config: Option<&std::path::Path>,
    checksum: Option<Checksum>,
    size: Option<u64>,
    limit: Option<u64>,
) -> anyhow::Result<ExitCode> {
    dbs_gateway::logging::init("warn", dbs_gateway::config::LogFormat::Text);
    let config = config.map(load).transpose()?;
    let targets = config.as_ref().map(|c| &c.targets);
    runtime()?.block_on(async {
        dbs_gateway::transfer::run_download_cli(url, to, checksum, size, limit, targets)
            .await
            .map_err(|e| anyhow::anyhow!("{} ({})", e, e.code()))
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `backup`: one backup into a configured target; a failure prints its
/// error code and message and exits non-zero.
fn backup(path: &std::path::Path, request: &BackupRequest) -> anyhow::Result<ExitCode> {
    dbs_gateway::logging::init("warn", dbs_gateway::config::LogFormat::Text);
    let config = load(path)?;
    // Several threads: a logical backup formats tables in parallel.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime
        .block_on(run_backup_cli(&config, request))
        .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
    Ok(ExitCode::SUCCESS)
}

/// `precheck`: one line per item; exits non-zero when one failed.
fn precheck(path: &std::path::Path, request: &PrecheckRequest) -> anyhow::Result<ExitCode> {
    dbs_gateway::logging::init("warn", dbs_gateway::config::LogFormat::Text);
    let config = load(path)?;
    let passed = runtime()?
        .block_on(run_precheck_cli(&config, request))
        .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `list-dbs`: one listing, printed as a table or JSON; a failure prints its
/// error code and message and exits non-zero.
fn list_dbs(
    path: &std::path::Path,
    db_type: DatabaseType,
    host: String,
    port: Option<u16>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let config = load(path)?;
    let req = discovery::ListRequest {
        db_type,
        host,
        port: port.unwrap_or_else(|| db_type.default_port()),
    };
    match runtime()?.block_on(discovery::list_databases(&config.databases, &req)) {
        Ok(listing) if json => println!("{}", serde_json::to_string_pretty(&listing)?),
        Ok(listing) => print!("{}", discovery::render_table(&listing)),
        Err(e) => {
            eprintln!("dbs-gateway: {}: {e} ({})", e.code(), path.display());
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

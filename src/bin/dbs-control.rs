//! dbs-control: the reference control plane and its admin commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use dbs_gateway::config::LogFormat;
use dbs_gateway::control::{notify::Notifier, server, store, ControlPlane, Settings};

#[derive(Parser)]
#[command(
    name = "dbs-control",
    version,
    about = "Reference control plane for dbs-gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the gateway actions.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Directory of the embedded database.
        #[arg(long, env = "DBS_CONTROL_DATA_DIR")]
        data_dir: PathBuf,
        /// Heartbeat interval told to gateways, seconds.
        #[arg(long, default_value_t = 10)]
        heartbeat_interval: u64,
        /// Seconds without a heartbeat after which a gateway is OFFLINE
        /// (default: three heartbeat intervals).
        #[arg(long)]
        offline_after: Option<u64>,
        /// Seconds a task lease lasts between two reports.
        #[arg(long, default_value_t = 60)]
        task_lease: u64,
        /// Log level or filter.
        #[arg(long, default_value = "info")]
        log_level: String,
        /// Log as JSON lines.
        #[arg(long)]
        log_json: bool,
    },
    /// Manage AccessKeys.
    AccessKey {
        #[command(subcommand)]
        command: AccessKeyCommand,
    },
}

#[derive(Subcommand)]
enum AccessKeyCommand {
    /// Create an AccessKey and print it as JSON.
    Create {
        /// Directory of the embedded database.
        #[arg(long, env = "DBS_CONTROL_DATA_DIR")]
        data_dir: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("dbs-control: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            listen,
            data_dir,
            heartbeat_interval,
            offline_after,
            task_lease,
            log_level,
            log_json,
        } => {
            let format = if log_json {
                LogFormat::Json
            } else {
                LogFormat::Text
            };
            dbs_gateway::logging::init(&log_level, format);
            let settings = Settings {
                heartbeat_interval: Duration::from_secs(heartbeat_interval.max(1)),
                offline_after: Duration::from_secs(
                    offline_after.unwrap_or(3 * heartbeat_interval.max(1)),
                ),
                task_lease: Duration::from_secs(task_lease.max(1)),
                ..Settings::default()
            };
            tokio::runtime::Runtime::new()?.block_on(serve(listen, data_dir, settings))
        }
        Command::AccessKey {
            command: AccessKeyCommand::Create { data_dir },
        } => {
            let store = open_store(&data_dir)?;
            let (id, secret) = store.call_now(|c| store::create_access_key(c))?;
            println!(
                "{}",
                serde_json::json!({ "AccessKeyId": id, "AccessKeySecret": secret })
            );
            Ok(())
        }
    }
}

fn open_store(data_dir: &std::path::Path) -> anyhow::Result<store::Store> {
    store::open(data_dir).with_context(|| format!("opening the store in {}", data_dir.display()))
}

async fn serve(listen: SocketAddr, data_dir: PathBuf, settings: Settings) -> anyhow::Result<()> {
    let plane = ControlPlane {
        store: open_store(&data_dir)?,
        settings: Arc::new(settings),
        notifier: Notifier::default(),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    tracing::info!(listen = %listener.local_addr()?, data_dir = %data_dir.display(), "dbs-control serving");
    server::serve(listener, plane, shutdown).await?;
    tracing::info!("dbs-control stopped");
    Ok(())
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    shutdown.cancel();
}

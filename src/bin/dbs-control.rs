//! dbs-control: the reference control plane and its admin commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use dbs_gateway::config::LogFormat;
use dbs_gateway::control::limits::{self, Limits};
use dbs_gateway::control::tls::{self, ReloadableCert};
use dbs_gateway::control::{files, notify::Notifier, server, store, ControlPlane, Settings};

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
        /// Base URL of signed backup-set URLs, as gateways reach this server
        /// (default: http:// or https:// and the listen address; required
        /// when listening on 0.0.0.0 or [::]).
        #[arg(long, env = "DBS_CONTROL_PUBLIC_URL")]
        public_url: Option<String>,
        /// Serve HTTPS with this PEM certificate chain (leaf first); reloaded
        /// with the key on SIGHUP.
        #[arg(long, env = "DBS_CONTROL_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, env = "DBS_CONTROL_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Connections served at once; further ones wait in the listen queue
        /// until one ends. Each takes up to two open files.
        #[arg(long, env = "DBS_CONTROL_MAX_CONNECTIONS", default_value_t = limits::DEFAULT_MAX_CONNECTIONS)]
        max_connections: usize,
        /// Seconds a request head may take to arrive (also a new
        /// connection's first request, and a TLS handshake).
        #[arg(long, default_value_t = 10)]
        header_timeout_secs: u64,
        /// Seconds an RPC body may take to arrive; a slower one is answered
        /// 408 and its connection closed.
        #[arg(long, default_value_t = 10)]
        body_timeout_secs: u64,
        /// Seconds a keep-alive connection may stay idle between requests,
        /// or a client may leave an answer unread.
        #[arg(long, default_value_t = 75)]
        idle_timeout_secs: u64,
        /// Largest RPC body in bytes; a larger one is answered 413 before it
        /// is read.
        #[arg(long, default_value_t = limits::DEFAULT_MAX_BODY_BYTES)]
        max_body_bytes: usize,
    },
    /// Register backup sets.
    BackupSet {
        #[command(subcommand)]
        command: BackupSetCommand,
    },
    /// Manage backup plans.
    BackupPlan {
        #[command(subcommand)]
        command: BackupPlanCommand,
    },
    /// Manage AccessKeys.
    AccessKey {
        #[command(subcommand)]
        command: AccessKeyCommand,
    },
}

#[derive(Subcommand)]
enum AccessKeyCommand {
    /// Create an AccessKey and print it, with its secret, as JSON. A user
    /// key (the default) calls the public API; a gateway key calls only
    /// the gateway actions of one gateway: the one `--gateway` names, or
    /// the one its first heartbeat registers.
    Create {
        /// Directory of the embedded database.
        #[arg(long, env = "DBS_CONTROL_DATA_DIR")]
        data_dir: PathBuf,
        /// What the key may call.
        #[arg(long, value_enum, default_value_t = RoleArg::User)]
        role: RoleArg,
        /// Bind a gateway key to this gateway identifier now (implies
        /// `--role gateway`).
        #[arg(long)]
        gateway: Option<String>,
    },
    /// Print every key as a JSON line: id, role, gateway, status (never a secret).
    List {
        /// Directory of the embedded database.
        #[arg(long, env = "DBS_CONTROL_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Refuse a key's calls until it is enabled again.
    Disable {
        /// Directory of the embedded database.
        #[arg(long, env = "DBS_CONTROL_DATA_DIR")]
        data_dir: PathBuf,
        /// The AccessKeyId.
        id: String,
    },
    /// Accept a disabled key's calls again.
    Enable {
        /// Directory of the embedded database.
        #[arg(long, env = "DBS_CONTROL_DATA_DIR")]
        data_dir: PathBuf,
        /// The AccessKeyId.
        id: String,
    },
    /// Delete a key for good.
    Delete {
        /// Directory of the embedded database.
        #[arg(long, env = "DBS_CONTROL_DATA_DIR")]
        data_dir: PathBuf,
        /// The AccessKeyId.
        id: String,
    },
    /// Give a key a new secret and print it as JSON; the old secret is
    /// still accepted for `--grace` seconds, so the host can be updated.
    Rotate {
        /// Directory of the embedded database.
        #[arg(long, env = "DBS_CONTROL_DATA_DIR")]
        data_dir: PathBuf,
        /// Seconds the old secret stays valid (0: refused at once).
        #[arg(long, default_value_t = 3600)]
        grace: u64,
        /// The AccessKeyId.
        id: String,
    },
}

/// The role of a new key.
#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    /// Calls the public API.
    User,
    /// Calls the gateway actions of one gateway.
    Gateway,
}

#[derive(Subcommand)]
enum BackupSetCommand {
    /// Copy FILE under the data dir as a set of PLAN, print it as JSON, and
    /// queue its download when the plan's auto download is on.
    Add {
        /// Directory of the embedded database.
        #[arg(long, env = "DBS_CONTROL_DATA_DIR")]
        data_dir: PathBuf,
        /// The backup plan (created if missing).
        #[arg(long)]
        plan: String,
        /// full or increment.
        #[arg(long, value_parser = ["full", "increment"])]
        kind: String,
        /// File name of the set on targets (default: FILE's name).
        #[arg(long)]
        name: Option<String>,
        /// Database type (default: the plan's, MySQL for a new plan).
        #[arg(long)]
        db_type: Option<String>,
        /// The set's bytes.
        file: PathBuf,
    },
    /// Print a signed URL of a set's bytes (honours Range), for a manual
    /// download with any HTTP client.
    Url {
        /// Directory of the embedded database.
        #[arg(long, env = "DBS_CONTROL_DATA_DIR")]
        data_dir: PathBuf,
        /// The BackupSetId.
        #[arg(long)]
        set: String,
        /// How long the URL stays valid, in seconds.
        #[arg(long, default_value_t = 86400)]
        ttl: u64,
    },
}

#[derive(Subcommand)]
enum BackupPlanCommand {
    /// Create a plan (with auto download off) and print it as JSON.
    Add {
        /// Directory of the embedded database.
        #[arg(long, env = "DBS_CONTROL_DATA_DIR")]
        data_dir: PathBuf,
        /// The plan id.
        #[arg(long)]
        plan: String,
        /// Database type of its sets.
        #[arg(long, default_value = "MySQL")]
        db_type: String,
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
            public_url,
            tls_cert,
            tls_key,
            max_connections,
            header_timeout_secs,
            body_timeout_secs,
            idle_timeout_secs,
            max_body_bytes,
        } => {
            let format = if log_json {
                LogFormat::Json
            } else {
                LogFormat::Text
            };
            dbs_gateway::logging::init(&log_level, format);
            if let Some(url) = &public_url {
                let parsed = reqwest::Url::parse(url)
                    .with_context(|| format!("--public-url {url:?} is not a URL"))?;
                anyhow::ensure!(
                    matches!(parsed.scheme(), "http" | "https") && parsed.query().is_none(),
                    "--public-url {url:?} must be an http(s) URL without a query"
                );
            }
            anyhow::ensure!(
                public_url.is_some() || !listen.ip().is_unspecified(),
                "--listen {listen} is an unspecified address, from which no URL \
                 that gateways can reach follows; give --public-url \
                 (e.g. https://control.example.com:{}) or listen on one address",
                listen.port()
            );
            let tls = match (&tls_cert, &tls_key) {
                (Some(cert), Some(key)) => Some(Arc::new(ReloadableCert::load(cert, key)?)),
                _ => None,
            };
            let settings = Settings {
                heartbeat_interval: Duration::from_secs(heartbeat_interval.max(1)),
                offline_after: Duration::from_secs(
                    offline_after.unwrap_or(3 * heartbeat_interval.max(1)),
                ),
                task_lease: Duration::from_secs(task_lease.max(1)),
                public_url,
                limits: Limits {
                    max_connections: max_connections.max(1),
                    header_timeout: Duration::from_secs(header_timeout_secs.max(1)),
                    body_timeout: Duration::from_secs(body_timeout_secs.max(1)),
                    idle_timeout: Duration::from_secs(idle_timeout_secs.max(1)),
                    max_body_bytes,
                },
                ..Settings::default()
            };
            tokio::runtime::Runtime::new()?.block_on(serve(listen, data_dir, settings, tls))
        }
        Command::AccessKey { command } => access_key(command),
        Command::BackupSet {
            command:
                BackupSetCommand::Add {
                    data_dir,
                    plan,
                    kind,
                    name,
                    db_type,
                    file,
                },
        } => backup_set_add(&data_dir, &plan, &kind, name, db_type, &file),
        Command::BackupSet {
            command: BackupSetCommand::Url { data_dir, set, ttl },
        } => {
            use dbs_gateway::control::{catalog::meta, set_url};
            let store = open_store(&data_dir)?;
            let url = store.call_now(|c| {
                let base = meta::recorded_public_url(c)?;
                Ok(set_url::signed_url(
                    &meta::signing_key(c)?,
                    base.as_deref(),
                    &set,
                    store::now_ms(),
                    Duration::from_secs(ttl),
                ))
            })?;
            println!("{url}");
            Ok(())
        }
        Command::BackupPlan {
            command:
                BackupPlanCommand::Add {
                    data_dir,
                    plan,
                    db_type,
                },
        } => {
            use dbs_gateway::control::catalog::{names, plans};
            names::plan_id(&plan)?;
            names::db_type(&db_type)?;
            let store = open_store(&data_dir)?;
            let plan =
                store.call_now(|c| plans::get_or_create(c, &plan, &db_type, store::now_ms()))?;
            println!(
                "{}",
                serde_json::json!({ "BackupPlanId": plan.id, "DbType": plan.db_type })
            );
            Ok(())
        }
    }
}

fn access_key(command: AccessKeyCommand) -> anyhow::Result<()> {
    use dbs_gateway::control::keys::{self, Role};
    let printed = |key: &keys::AccessKey| {
        serde_json::json!({
            "AccessKeyId": key.id,
            "AccessKeySecret": key.secret,
            "Role": key.role.as_str(),
            "Gateway": key.gateway,
        })
    };
    let changed = |id: &str, found: bool, what: &str| {
        anyhow::ensure!(found, "no AccessKey {id}");
        eprintln!("AccessKey {id} {what}");
        Ok(())
    };
    match command {
        AccessKeyCommand::Create {
            data_dir,
            role,
            gateway,
        } => {
            let role = match (role, &gateway) {
                (RoleArg::User, None) => Role::User,
                _ => Role::Gateway,
            };
            if let Some(id) = &gateway {
                dbs_gateway::api::bounds::identifier(id)
                    .with_context(|| format!("--gateway {id:?}"))?;
            }
            let store = open_store(&data_dir)?;
            let key =
                store.call_now(|c| keys::create(c, role, gateway.as_deref(), store::now_ms()))?;
            println!("{}", printed(&key));
            Ok(())
        }
        AccessKeyCommand::List { data_dir } => {
            let store = open_store(&data_dir)?;
            let now = store::now_ms();
            for key in store.call_now(|c| keys::list(c))? {
                println!("{}", key.summary(now));
            }
            Ok(())
        }
        AccessKeyCommand::Disable { data_dir, id } => {
            let found = open_store(&data_dir)?.call_now(|c| keys::set_disabled(c, &id, true))?;
            changed(&id, found, "disabled")
        }
        AccessKeyCommand::Enable { data_dir, id } => {
            let found = open_store(&data_dir)?.call_now(|c| keys::set_disabled(c, &id, false))?;
            changed(&id, found, "enabled")
        }
        AccessKeyCommand::Delete { data_dir, id } => {
            let found = open_store(&data_dir)?.call_now(|c| keys::delete(c, &id))?;
            changed(&id, found, "deleted")
        }
        AccessKeyCommand::Rotate {
            data_dir,
            grace,
            id,
        } => {
            let until =
                store::now_ms().saturating_add((grace.min(i64::MAX as u64 / 1000) as i64) * 1000);
            let key = open_store(&data_dir)?
                .call_now(|c| keys::rotate(c, &id, until))?
                .with_context(|| format!("no AccessKey {id}"))?;
            println!("{}", printed(&key));
            Ok(())
        }
    }
}

fn backup_set_add(
    data_dir: &std::path::Path,
    plan: &str,
    kind: &str,
    name: Option<String>,
    db_type: Option<String>,
    file: &std::path::Path,
) -> anyhow::Result<()> {
    use dbs_gateway::api::gateway::SetKind;
    use dbs_gateway::control::catalog::{meta, sets};
    let store = open_store(data_dir)?;
    let new = sets::NewSet {
        plan_id: plan,
        kind: if kind == "full" {
            SetKind::Full
        } else {
            SetKind::Increment
        },
        name: name.as_deref(),
        db_type: db_type.as_deref(),
        source: file,
    };
    let added = store.call_now(|c| {
        let public_url = meta::recorded_public_url(c)?;
        Ok(sets::add(
            c,
            data_dir,
            &new,
            public_url.as_deref(),
            store::now_ms,
        ))
    })??;
    let set = &added.set;
    let mut out = serde_json::json!({
        "BackupSetId": set.id,
        "BackupPlanId": set.plan_id,
        "Kind": set.kind.as_str(),
        "BackupSetName": set.name,
        "DbType": set.db_type,
        "BackupSize": set.size,
        "SHA256": set.sha256,
        "CRC64": set.crc64,
        "CreateTime": set.created_ms,
    });
    if let Some(queued) = added.download {
        out["BackupSetDownloadTaskId"] = queued.download_id.to_string().into();
        out["TaskId"] = queued.task_id.into();
        out["BackupGatewayId"] = queued.gateway_id.into();
    }
    println!("{out}");
    Ok(())
}

fn open_store(data_dir: &std::path::Path) -> anyhow::Result<store::Store> {
    store::open(data_dir).with_context(|| format!("opening the store in {}", data_dir.display()))
}

async fn serve(
    listen: SocketAddr,
    data_dir: PathBuf,
    mut settings: Settings,
    tls: Option<Arc<ReloadableCert>>,
) -> anyhow::Result<()> {
    raise_open_file_limit(settings.limits.max_connections);
    let acceptor = match &tls {
        Some(cert) => Some(cert.acceptor().context("configuring TLS")?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let store = open_store(&data_dir)?;
    let sets = data_dir.join(dbs_gateway::control::catalog::sets::SETS_DIR);
    files::tighten_entries(&sets)
        .with_context(|| format!("tightening the modes in {}", sets.display()))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = settings
        .public_url
        .get_or_insert(format!("{scheme}://{}", listener.local_addr()?))
        .clone();
    store.call_now(|c| dbs_gateway::control::catalog::meta::record_public_url(c, &public_url))?;
    let shutdown = CancellationToken::new();
    let plane = ControlPlane {
        store,
        settings: Arc::new(settings),
        notifier: Notifier::default(),
        shutdown: shutdown.clone(),
    };
    tokio::spawn(dbs_gateway::shutdown::cancel_on_signal(shutdown.clone()));
    tokio::spawn(tls::reload_on_sighup(tls, shutdown.clone()));
    tokio::spawn(dbs_gateway::control::scheduler::run(plane.clone()));
    tracing::info!(
        listen = %listener.local_addr()?,
        scheme,
        public_url,
        max_connections = plane.settings.limits.max_connections,
        data_dir = %data_dir.display(),
        "dbs-control serving"
    );
    server::serve(listener, acceptor, plane, shutdown).await?;
    tracing::info!("dbs-control stopped");
    Ok(())
}

/// Raises the soft open-file limit towards the hard one so that
/// `max_connections` connections (a socket and, for a set download, a file
/// each) fit, and warns when they cannot.
fn raise_open_file_limit(max_connections: usize) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let needed = 2 * max_connections as u64 + 64;
    let mut limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft >= needed {
        return;
    }
    let hard = limit.maximum.unwrap_or(u64::MAX);
    limit.current = Some(needed.min(hard));
    if setrlimit(Resource::Nofile, limit).is_ok() && needed <= hard {
        return;
    }
    tracing::warn!(
        open_files = getrlimit(Resource::Nofile).current.unwrap_or(soft),
        needed,
        max_connections,
        "the open-file limit is below what --max-connections needs; raise LimitNOFILE= or lower --max-connections"
    );
}

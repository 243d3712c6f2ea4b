//! The TOML schema of gateway.toml, as written: one struct per section,
//! unknown keys refused, defaults in one place ([`defaults`]).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Secret, ENV_PREFIX};
use crate::discovery::{self, DatabaseConfig};
use crate::transfer::{TargetsConfig, TransferConfig};

/// Default values of optional keys.
pub mod defaults {
    use std::path::PathBuf;

    /// `gateway.region`.
    pub fn region() -> String {
        "cn-hangzhou".into()
    }
    /// `gateway.state_dir`.
    pub fn state_dir() -> PathBuf {
        PathBuf::from("/var/lib/dbs-gateway")
    }
    /// `control.request_timeout_secs`.
    pub fn request_timeout_secs() -> u64 {
        30
    }
    /// `log.level`.
    pub fn log_level() -> String {
        "info".into()
    }
}

/// gateway.toml as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Identity and local state of this gateway.
    pub gateway: GatewaySection,
    /// The control plane.
    pub control: ControlConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// `[[databases]]`: how to log in to each database endpoint on this host.
    #[serde(default)]
    pub databases: Vec<DatabaseConfig>,
    /// `[transfer]`: download limits and retries.
    #[serde(default)]
    pub transfer: TransferConfig,
    /// `[targets.*]`: where backup sets may be written.
    #[serde(default)]
    pub targets: TargetsConfig,
}

/// `[gateway]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// Name the control plane lists this gateway under (`Identifier`);
    /// default: a name made once from the host name and kept in `state_dir`.
    pub identifier: Option<String>,
    /// Human-friendly name (`DisplayName`); default: the identifier.
    pub display_name: Option<String>,
    /// Region the gateway is registered in.
    #[serde(default = "defaults::region")]
    pub region: String,
    /// Directory for the agent's own state (identity, task journal).
    #[serde(default = "defaults::state_dir")]
    pub state_dir: PathBuf,
    /// Public address to report, when the host has one (`SourceEndpointInternetIP`).
    pub internet_ip: Option<String>,
}

/// `[control]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Base URL of the control plane, e.g. `https://dbs.example.com`.
    pub endpoint: String,
    /// AccessKeyId the agent signs with.
    pub access_key_id: String,
    /// AccessKey secret, inline (prefer `access_key_secret_file`).
    pub access_key_secret: Option<Secret>,
    /// File holding the AccessKey secret.
    pub access_key_secret_file: Option<PathBuf>,
    /// HTTP(S) proxy for control-plane calls, e.g. `http://proxy:3128`.
    /// Environment proxies are ignored: a systemd service does not see them.
    pub proxy: Option<String>,
    /// Timeout of one control-plane request (long polls get their wait on top).
    #[serde(default = "defaults::request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Allow a plain `http://` endpoint on a host that is not loopback; off
    /// by default, since signatures, tasks and set URLs would then cross the
    /// network in clear. Loopback `http://` (127.0.0.0/8, ::1, localhost)
    /// is always allowed.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Level or filter (`info`, `debug`, `dbs_gateway=debug`); `RUST_LOG` wins.
    #[serde(default = "defaults::log_level")]
    pub level: String,
    /// `text` or `json`.
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: defaults::log_level(),
            format: LogFormat::default(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl RawConfig {
    /// Reads the file with environment overrides. `Ok` holds the config
    /// read without the keys serde refused, and one problem per such key;
    /// `Err` holds every problem found when no config could be built.
    pub fn read(path: &Path) -> Result<(Self, Vec<String>), Vec<String>> {
        if !path.exists() {
            return Err(vec!["file not found".into()]);
        }
        let settings = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__"),
            )
            .build()
            .map_err(|e| vec![e.to_string()])?;
        super::scan::deserialize(settings.cache)
    }

    /// Every problem of values serde accepted, but for `[targets.*]`,
    /// which [`TargetsConfig::build`] checks as it builds the targets.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match reqwest::Url::parse(&self.control.endpoint) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(_) => problems.push("control.endpoint: must be an http:// or https:// URL".into()),
            Err(e) => problems.push(format!("control.endpoint: not a URL ({e})")),
        }
        if self.control.access_key_id.trim().is_empty() {
            problems.push("control.access_key_id: is empty".into());
        }
        if let Some(proxy) = &self.control.proxy {
            if reqwest::Proxy::all(proxy).is_err() {
                problems.push(format!("control.proxy: not a proxy URL: {proxy}"));
            }
        }
        if self.control.request_timeout_secs == 0 {
            problems.push("control.request_timeout_secs: must be at least 1".into());
        }
        if let Some(id) = &self.gateway.identifier {
            if let Err(e) = crate::api::bounds::identifier(id) {
                problems.push(format!("gateway.identifier: {e}"));
            }
        }
        if !self.gateway.state_dir.is_absolute() {
            problems.push("gateway.state_dir: must be an absolute path".into());
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            problems.push(format!(
                "log.level: not a level or filter: {}",
                self.log.level
            ));
        }
        problems.extend(discovery::validate_all(&self.databases));
        problems.extend(self.transfer.validate());
        problems
    }
}

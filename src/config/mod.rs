//! The agent's configuration: one TOML file (`gateway.toml`), overridable by
//! `DBS_GATEWAY__SECTION__KEY` environment variables.
//!
//! Loading happens in two steps: [`RawConfig`] is the file as written (serde,
//! every unknown or mistyped key noted), then [`GatewayConfig::load`]
//! validates its values, resolves secrets from `*_file` paths and builds the
//! targets of `[targets.*]`, reporting every problem of both steps at once
//! as `FILE: key: what is wrong`.

mod scan;
mod schema;

use std::path::{Path, PathBuf};

use crate::secret::{resolve_secret, Secret};
use crate::transfer::{Targets, TargetsConfig, TransferConfig};
pub use schema::{ControlConfig, GatewaySection, LogConfig, LogFormat, RawConfig};

/// Environment variables with this prefix override keys of the file:
/// `DBS_GATEWAY__CONTROL__ENDPOINT` sets `control.endpoint`.
pub const ENV_PREFIX: &str = "DBS_GATEWAY";

/// A configuration that could not be loaded: every problem found, each
/// naming the file and the key.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct ConfigError {
    /// One line per problem.
    pub problems: Vec<String>,
}

/// The validated configuration the agent runs with.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The file it came from.
    pub path: PathBuf,
    /// `[gateway]`: identity and local state.
    pub gateway: GatewaySection,
    /// `[control]`: how to reach the control plane.
    pub control: ControlConfig,
    /// The control plane's AccessKey secret, resolved from the file or inline.
    pub access_key_secret: Secret,
    /// `[log]`.
    pub log: LogConfig,
    /// `[[databases]]`.
    pub databases: Vec<crate::discovery::DatabaseConfig>,
    /// `[transfer]`.
    pub transfer: TransferConfig,
    /// `[targets.*]` as written.
    pub targets: TargetsConfig,
    /// The targets `[targets.*]` configures, built once at load.
    pub sinks: Targets,
}

impl GatewayConfig {
    /// Reads, validates and resolves `path` (plus environment overrides).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let fail = |problems: Vec<String>| ConfigError {
            problems: problems
                .into_iter()
                .map(|p| format!("{file}: {p}"))
                .collect(),
        };
        let (raw, mut problems) = RawConfig::read(path).map_err(fail)?;
        problems.extend(raw.validate());
        let sinks = raw.targets.build().unwrap_or_else(|target_problems| {
            problems.extend(target_problems);
            Targets::default()
        });
        let access_key_secret = match resolve_secret(
            "control.access_key_secret",
            raw.control.access_key_secret.as_ref(),
            raw.control.access_key_secret_file.as_deref(),
        ) {
            Ok(secret) => secret,
            Err(problem) => {
                problems.push(problem);
                Secret::default()
            }
        };
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        Ok(GatewayConfig {
            path: path.to_path_buf(),
            gateway: raw.gateway,
            control: raw.control,
            access_key_secret,
            log: raw.log,
            databases: raw.databases,
            transfer: raw.transfer,
            targets: raw.targets,
            sinks,
        })
    }
}

#[cfg(test)]
mod tests;

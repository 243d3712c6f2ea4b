//! The agent's configuration: one TOML file (`gateway.toml`), overridable by
//! `DBS_GATEWAY__SECTION__KEY` environment variables.
//!
//! Loading happens in two steps: [`RawConfig`] is the file as written (serde,
//! every unknown or mistyped key noted), then [`GatewayConfig::load`]
//! validates its values and resolves secrets from `*_file` paths, reporting
//! every problem of both steps at once as `FILE: key: what is wrong`.

mod scan;
mod schema;
mod secret;

use std::path::{Path, PathBuf};

pub use schema::{ControlConfig, GatewaySection, LogConfig, LogFormat, RawConfig};
pub use secret::Secret;

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
    pub transfer: crate::transfer::config::TransferConfig,
    /// `[targets.*]`.
    pub targets: crate::transfer::config::TargetsConfig,
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
        })
    }
}

/// Resolves a secret given either inline (`key`) or as a file (`key_file`);
/// a trailing newline of the file is dropped. Exactly one must be given.
pub fn resolve_secret(
    key: &str,
    inline: Option<&Secret>,
    file: Option<&Path>,
) -> Result<Secret, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!("{key}: give either {key} or {key}_file, not both")),
        (Some(secret), None) if secret.is_empty() => Err(format!("{key}: is empty")),
        (Some(secret), None) => Ok(secret.clone()),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) if text.trim_end_matches(['\r', '\n']).is_empty() => {
                Err(format!("{key}_file: {} is empty", path.display()))
            }
            Ok(text) => Ok(Secret::new(text.trim_end_matches(['\r', '\n']))),
            Err(e) => Err(format!("{key}_file: cannot read {}: {e}", path.display())),
        },
        (None, None) => Err(format!("{key}: missing (or set {key}_file)")),
    }
}

#[cfg(test)]
mod tests;

//! `dbs-gateway check`: validates what the agent would run with and says, one
//! line per item, what is fine and what is wrong.

use std::time::Duration;

use crate::config::GatewayConfig;
use crate::discovery::{self, ListRequest};

use super::client::{ClientError, ControlClient};

/// One checked item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    /// What was checked.
    pub item: String,
    /// None when fine, else what is wrong.
    pub problem: Option<String>,
}

impl std::fmt::Display for CheckLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            None => write!(f, "ok    {}", self.item),
            Some(problem) => write!(f, "FAIL  {}: {problem}", self.item),
        }
    }
}

/// Checks the control plane: reachable, and the AccessKey accepted as a
/// gateway key. The probe is a public action, which changes nothing: a
/// gateway key is refused it with `Forbidden.GatewayKey` only after its
/// signature was found right, while a user key is served.
pub async fn check_control_plane(config: &GatewayConfig) -> CheckLine {
    let item = format!("control plane {}", config.control.endpoint);
    let id = &config.control.access_key_id;
    let problem = match ControlClient::new(&config.control, config.access_key_secret.clone()) {
        Err(e @ ClientError::Insecure(_)) => Some(format!("{e} in {}", config.path.display())),
        Err(e) => Some(e.to_string()),
        Ok(client) => match client
            .call::<serde_json::Value>("DescribeRegions", &[], Duration::ZERO)
            .await
        {
            Err(ClientError::Api { code, .. }) if code == "Forbidden.GatewayKey" => None,
            Ok(_) => Some(format!(
                "AccessKeyId {id} is a user key; the agent needs a gateway key \
                 (dbs-control access-key create --gateway IDENTIFIER)"
            )),
            Err(ClientError::Api { code, .. }) if code == "InvalidAccessKeyId.Inactive" => {
                Some(format!("AccessKeyId {id} is disabled there ({code})"))
            }
            Err(ClientError::Api { code, message, .. })
                if code.starts_with("InvalidAccessKeyId") =>
            {
                Some(format!(
                    "AccessKeyId {id} is not known there ({code}: {message})"
                ))
            }
            Err(ClientError::Api { code, .. }) if code == "SignatureDoesNotMatch" => {
                Some("the AccessKey secret is wrong (SignatureDoesNotMatch)".into())
            }
            Err(e) => Some(e.to_string()),
        },
    };
    CheckLine { item, problem }
}

/// Checks the state dir: it exists (or can be made) and is writable.
pub fn check_state_dir(config: &GatewayConfig) -> CheckLine {
    let dir = &config.gateway.state_dir;
    let item = format!("state dir {}", dir.display());
    let probe = dir.join(".dbs-gateway-check");
    let problem = std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&probe, b"ok"))
        .and_then(|_| std::fs::remove_file(&probe))
        .err()
        .map(|e| format!("not writable: {e}"));
    CheckLine { item, problem }
}

/// Checks each `[[databases]]` entry: a login and a listing.
pub async fn check_databases(config: &GatewayConfig) -> Vec<CheckLine> {
    let mut lines = Vec::new();
    for entry in &config.databases {
        let request = ListRequest {
            db_type: entry.db_type,
            host: entry.host.clone(),
            port: entry.port(),
        };
        let item = format!("database {}", entry.endpoint());
        let problem = match discovery::list_databases(&config.databases, &request).await {
            Ok(listing) => {
                lines.push(CheckLine {
                    item: format!("{item} ({} databases)", listing.databases.len()),
                    problem: None,
                });
                continue;
            }
            Err(e) => Some(format!("{}: {e}", e.code())),
        };
        lines.push(CheckLine { item, problem });
    }
    lines
}

/// Checks each configured target: usable now (directory, mount, server,
/// credentials).
pub async fn check_targets(config: &GatewayConfig) -> Vec<CheckLine> {
    let mut lines = Vec::new();
    for (location, target) in config.sinks.iter() {
        let problem = target
            .check()
            .await
            .err()
            .map(|e| format!("{}: {e}", e.code()));
        lines.push(CheckLine {
            item: format!("target {location}"),
            problem,
        });
    }
    lines
}

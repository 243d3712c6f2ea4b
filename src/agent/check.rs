//! `dbs-gateway check`: validates what the agent would run with and says, one
//! line per item, what is fine and what is wrong.

use std::time::Duration;

use crate::config::GatewayConfig;

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

/// Checks the control plane: reachable, and the AccessKey accepted.
pub async fn check_control_plane(config: &GatewayConfig) -> CheckLine {
    let item = format!("control plane {}", config.control.endpoint);
    let problem = match ControlClient::new(&config.control, config.access_key_secret.clone()) {
        Err(e) => Some(e.to_string()),
        Ok(client) => match client
            .call::<serde_json::Value>("DescribeRegions", &[], Duration::ZERO)
            .await
        {
            Ok(_) => None,
            Err(ClientError::Api { code, message, .. })
                if code.starts_with("InvalidAccessKeyId") =>
            {
                Some(format!(
                    "AccessKeyId {} is not known there ({code}: {message})",
                    config.control.access_key_id
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

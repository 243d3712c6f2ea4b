//! The pre-check executor: runs a plan's checks
//! ([`crate::backup::precheck::run`]) against the `[[databases]]` entry of
//! the task's endpoint, logging in with that entry's credentials (none come
//! with the task), and answers every item with its state and code.

use crate::api::gateway::{PreCheckItem, PreCheckResult, PreCheckSpec};
use crate::backup::precheck;
use crate::config::GatewayConfig;

use super::tasks::TaskError;

/// `State` of a check that passed.
const PASSED: &str = "Success";
/// `State` of a check that failed.
const FAILED: &str = "Failed";

/// Runs the checks of `spec`; only MySQL (and MariaDB) sources are checked
/// (`Backup.UnsupportedDatabaseType` otherwise, as for a backup).
pub async fn run(config: &GatewayConfig, spec: &PreCheckSpec) -> Result<PreCheckResult, TaskError> {
    let login = super::backup::mysql_login(config, &spec.source)?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let items = precheck::run(&login, spec.backup_method, &path).await;
    Ok(PreCheckResult {
        items: items
            .into_iter()
            .map(|item| PreCheckItem {
                name: item.name.to_string(),
                state: if item.code.is_some() { FAILED } else { PASSED }.to_string(),
                code: item.code.map(str::to_string),
                message: item.message,
            })
            .collect(),
    })
}

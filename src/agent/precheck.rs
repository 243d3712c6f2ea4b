//! The pre-check executor: runs a plan's checks
//! ([`crate::backup::precheck::run`]) against the `[[databases]]` entry of
//! the task's endpoint, logging in with that entry's credentials (none come
//! with the task), and answers every item with its state and code.

use crate::api::gateway::{BackupMethod, PreCheckItem, PreCheckResult, PreCheckSpec};
use crate::backup::precheck::{self, Method};
use crate::config::GatewayConfig;
use crate::discovery::{self, DatabaseType, DiscoveryError, ListRequest};

use super::tasks::TaskError;

/// `State` of a check that passed.
const PASSED: &str = "Success";
/// `State` of a check that failed.
const FAILED: &str = "Failed";

/// Runs the checks of `spec`; only MySQL (and MariaDB) sources are checked.
pub async fn run(config: &GatewayConfig, spec: &PreCheckSpec) -> Result<PreCheckResult, TaskError> {
    let source = &spec.source;
    if !source
        .database_type
        .eq_ignore_ascii_case(DatabaseType::Mysql.api_name())
    {
        return Err(TaskError::new(
            "UnsupportedDatabaseType.Backup",
            format!(
                "{} backups are not supported by this gateway yet; only MySQL and MariaDB are",
                source.database_type
            ),
        ));
    }
    let request = ListRequest {
        db_type: DatabaseType::Mysql,
        host: source.source_endpoint_ip.clone(),
        port: source.source_endpoint_port,
    };
    let login = discovery::login_for(&config.databases, &request).map_err(|error| match error {
        DiscoveryError::EndpointNotConfigured { .. } => TaskError::new(
            error.code(),
            format!(
                "{error}; add a [[databases]] entry for it to {}",
                config.path.display()
            ),
        ),
        other => TaskError::new(other.code(), other.to_string()),
    })?;
    let method = match spec.backup_method {
        BackupMethod::Physical => Method::Physical,
        BackupMethod::Logical => Method::Logical,
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    let items = precheck::run(&login, method, &path).await;
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

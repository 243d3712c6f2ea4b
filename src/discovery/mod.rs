//! Database discovery: lists the databases of a local MySQL, MSSQL or Redis
//! endpoint for a get-DB-list task or the `list-dbs` command.
//!
//! Owns the `[[databases]]` config entries ([`config`]), the choice of entry
//! for a request ([`list_databases`]), one [`Lister`] per database type
//! ([`mysql`], [`mssql`], [`redis`]), their errors ([`error`]) and the
//! table rendering of a result ([`render`]). It knows nothing of tasks or of
//! the control plane.
//!
//! The credential rule: an entry's credentials are only ever sent to the
//! endpoint (type, host, port) the entry is written for, and a request for
//! an endpoint without an entry (of any type, Redis included) fails before
//! any connection is opened: the control plane cannot aim the agent at a
//! host or port the operator did not list.

pub mod config;
pub mod error;
pub mod mssql;
pub mod mysql;
pub mod redis;
pub mod render;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use config::{validate_all, DatabaseConfig, DatabaseType, TlsMode};
pub use error::DiscoveryError;
pub use render::render_table;

use crate::secret::Secret;

/// Which endpoint to list, as a task or the CLI names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    /// Kind of database.
    pub db_type: DatabaseType,
    /// Host name or IP address (`SourceEndpointIP`).
    pub host: String,
    /// TCP port (`SourceEndpointPort`).
    pub port: u16,
}

impl ListRequest {
    /// `type host:port`, for messages.
    pub fn endpoint(&self) -> String {
        format!("{} {}:{}", self.db_type, self.host, self.port)
    }
}

/// The databases of one endpoint. Serializes with PascalCase field names, as
/// the API's JSON: `{"Databases": [{"Name": "shop", "SizeBytes": 16384, "Tables": 1}]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DbListing {
    /// One entry per database, in the server's order (by name; Redis by number).
    pub databases: Vec<DatabaseInfo>,
}

impl DbListing {
    /// The names alone, in order (the SDK's `DbList.dbName`).
    pub fn names(&self) -> Vec<String> {
        self.databases.iter().map(|d| d.name.clone()).collect()
    }
}

/// One database and the details its server reports. Details a database type
/// does not have are absent from the JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatabaseInfo {
    /// Database name (Redis: `db0`, `db5`, ...).
    pub name: String,
    /// MySQL: data plus index bytes of its tables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// MySQL: number of tables (views not counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tables: Option<u64>,
    /// Redis: number of keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<u64>,
    /// MSSQL: `state_desc` (ONLINE, RESTORING, OFFLINE, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// MSSQL: `recovery_model_desc` (FULL, SIMPLE, BULK_LOGGED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_model: Option<String>,
}

impl DatabaseInfo {
    /// An entry with a name and no details.
    pub fn named(name: impl Into<String>) -> Self {
        DatabaseInfo {
            name: name.into(),
            ..DatabaseInfo::default()
        }
    }
}

/// Everything a lister needs to log in to one endpoint, resolved from a
/// config entry (password read from its file).
#[derive(Debug, Clone)]
pub struct Login {
    /// Kind of database.
    pub db_type: DatabaseType,
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Login name, if any.
    pub user: Option<String>,
    /// Password, if any.
    pub password: Option<Secret>,
    /// TLS or not.
    pub tls: TlsMode,
    /// CA certificate file for TLS.
    pub tls_ca_file: Option<PathBuf>,
    /// Accept any server certificate.
    pub tls_accept_invalid_certs: bool,
    /// Limit for connecting and logging in.
    pub connect_timeout: Duration,
    /// Limit for the listing query.
    pub query_timeout: Duration,
}

impl Login {
    /// The login of a config entry, its password resolved.
    pub fn from_config(entry: &DatabaseConfig) -> Result<Self, DiscoveryError> {
        Ok(Login {
            db_type: entry.db_type,
            host: entry.host.trim().to_string(),
            port: entry.port(),
            user: entry.user.clone(),
            password: entry.resolve_password()?,
            tls: entry.tls,
            tls_ca_file: entry.tls_ca_file.clone(),
            tls_accept_invalid_certs: entry.tls_accept_invalid_certs,
            connect_timeout: entry.connect_timeout(),
            query_timeout: entry.query_timeout(),
        })
    }

    /// `type host:port`, for messages.
    pub fn endpoint(&self) -> String {
        format!("{} {}:{}", self.db_type, self.host, self.port)
    }
}

/// Lists the databases of one kind of server.
pub trait Lister {
    /// Connects with `login`, lists the user databases, disconnects.
    fn list(&self, login: &Login)
        -> impl Future<Output = Result<DbListing, DiscoveryError>> + Send;
}

/// Lists the databases of the endpoint `req` names, with the credentials of
/// the `configured` entry for exactly that type, host and port.
///
/// Without such an entry it fails with [`DiscoveryError::EndpointNotConfigured`]
/// and opens no connection.
pub async fn list_databases(
    configured: &[DatabaseConfig],
    req: &ListRequest,
) -> Result<DbListing, DiscoveryError> {
    let login = login_for(configured, req)?;
    tracing::debug!(endpoint = %login.endpoint(), "listing databases");
    match login.db_type {
        DatabaseType::Mysql => mysql::MysqlLister.list(&login).await,
        DatabaseType::Mssql => mssql::MssqlLister.list(&login).await,
        DatabaseType::Redis => redis::RedisLister.list(&login).await,
    }
}

/// The login of the `configured` entry for exactly the type, host and port
/// of `req`; without one, [`DiscoveryError::EndpointNotConfigured`]. Backups
/// find their credentials the same way: they never come with a task.
pub fn login_for(
    configured: &[DatabaseConfig],
    req: &ListRequest,
) -> Result<Login, DiscoveryError> {
    let entry = configured
        .iter()
        .find(|e| e.matches(req.db_type, &req.host, req.port))
        .ok_or_else(|| DiscoveryError::EndpointNotConfigured {
            endpoint: req.endpoint(),
        })?;
    Login::from_config(entry)
}

/// Makes aws-lc-rs the process's rustls crypto provider unless one is set.
/// The dependency tree enables both ring and aws-lc-rs, and then rustls
/// cannot choose one by itself (mysql_async and redis would panic).
pub(crate) fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is set.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// Runs `fut` for at most `limit`; past it, the error `on_timeout` builds.
pub(crate) async fn within<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, DiscoveryError>>,
    on_timeout: impl FnOnce() -> DiscoveryError,
) -> Result<T, DiscoveryError> {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| Err(on_timeout()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unconfigured_endpoints_of_every_type_fail_before_connecting() {
        // Port 9 on 127.0.0.1: nothing listens; an attempt to connect would
        // give DbConnectionRefused, not EndpointNotConfigured.
        let configured = [DatabaseConfig::new(DatabaseType::Mysql, "127.0.0.1", 3306)];
        for db_type in [
            DatabaseType::Mysql,
            DatabaseType::Mssql,
            DatabaseType::Redis,
        ] {
            let req = ListRequest {
                db_type,
                host: "127.0.0.1".into(),
                port: 9,
            };
            let err = list_databases(&configured, &req)
                .await
                .expect_err("no entry");
            assert_eq!(err.code(), "EndpointNotConfigured");
            assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
        }
    }

    #[test]
    fn listing_serializes_pascal_case_without_absent_details() {
        let listing = DbListing {
            databases: vec![
                DatabaseInfo {
                    size_bytes: Some(16384),
                    tables: Some(1),
                    ..DatabaseInfo::named("shop")
                },
                DatabaseInfo {
                    recovery_model: Some("FULL".into()),
                    ..DatabaseInfo::named("erp")
                },
            ],
        };
        let json = serde_json::to_string(&listing).expect("json");
        assert_eq!(
            json,
            r#"{"Databases":[{"Name":"shop","SizeBytes":16384,"Tables":1},{"Name":"erp","RecoveryModel":"FULL"}]}"#
        );
        assert_eq!(listing.names(), ["shop", "erp"]);
    }
}

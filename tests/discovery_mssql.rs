//! The MSSQL lister over TDS, against the TDS test server of
//! tests/support/tds_server.rs (NOT SQL Server, which cannot run here):
//! login, the sys.databases query, result parsing, login failure.

#[path = "support/discovery_env.rs"]
mod discovery_env;
#[path = "support/tds_server.rs"]
mod tds_server;

use dbs_gateway::discovery::{list_databases, DatabaseConfig, DatabaseType, ListRequest, TlsMode};
use dbs_gateway::secret::Secret;
use discovery_env::closed_port;
use tds_server::{TdsDatabase, TdsServer};

const USER: &str = "backup_reader";
const PASSWORD: &str = "Tds-Pa55word!";

fn databases() -> Vec<TdsDatabase> {
    vec![
        TdsDatabase::new("master", "ONLINE", "SIMPLE"),
        TdsDatabase::new("tempdb", "ONLINE", "SIMPLE"),
        TdsDatabase::new("model", "ONLINE", "FULL"),
        TdsDatabase::new("msdb", "ONLINE", "SIMPLE"),
        TdsDatabase::new("sales", "ONLINE", "FULL"),
        TdsDatabase::new("archive_2019", "OFFLINE", "SIMPLE"),
        TdsDatabase::new("hr", "RESTORING", "BULK_LOGGED"),
        TdsDatabase::new("Ünïcödé db", "ONLINE", "FULL"),
    ]
}

fn entry(port: u16, password: &str) -> DatabaseConfig {
    let mut entry = DatabaseConfig::new(DatabaseType::Mssql, "127.0.0.1", port);
    entry.user = Some(USER.into());
    entry.password = Some(Secret::new(password));
    entry
}

fn request(port: u16) -> ListRequest {
    ListRequest {
        db_type: DatabaseType::Mssql,
        host: "127.0.0.1".into(),
        port,
    }
}

#[tokio::test]
async fn lists_user_databases_with_state_and_recovery_model() {
    let server = TdsServer::start(USER, PASSWORD, databases()).await;
    let listing = list_databases(&[entry(server.port, PASSWORD)], &request(server.port))
        .await
        .expect("listing");
    assert_eq!(
        listing.names(),
        ["archive_2019", "hr", "sales", "Ünïcödé db"],
        "system databases left out by the query"
    );
    let hr = &listing.databases[1];
    assert_eq!(hr.state.as_deref(), Some("RESTORING"));
    assert_eq!(hr.recovery_model.as_deref(), Some("BULK_LOGGED"));
    assert_eq!(listing.databases[0].state.as_deref(), Some("OFFLINE"));
    assert_eq!(listing.databases[0].size_bytes, None);

    let batches = server.batches();
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert!(batches[0].contains("FROM sys.databases"), "{}", batches[0]);
}

#[tokio::test]
async fn wrong_password_fails_with_db_auth_failed() {
    let server = TdsServer::start(USER, PASSWORD, databases()).await;
    let err = list_databases(&[entry(server.port, "wrong")], &request(server.port))
        .await
        .expect_err("wrong password");
    assert_eq!(err.code(), "DbAuthFailed", "{err}");
    assert!(err.to_string().contains("Login failed"), "{err}");
    assert!(server.batches().is_empty(), "no query after a failed login");
}

#[tokio::test]
async fn closed_port_fails_with_db_connection_refused() {
    let closed = closed_port();
    let err = list_databases(&[entry(closed, PASSWORD)], &request(closed))
        .await
        .expect_err("closed");
    assert_eq!(err.code(), "DbConnectionRefused", "{err}");
}

#[tokio::test]
async fn unconfigured_endpoint_fails_and_no_connection_is_made() {
    let configured_server = TdsServer::start(USER, PASSWORD, databases()).await;
    let other = TdsServer::start(USER, PASSWORD, databases()).await;
    let err = list_databases(
        &[entry(configured_server.port, PASSWORD)],
        &request(other.port),
    )
    .await
    .expect_err("not configured");
    assert_eq!(err.code(), "EndpointNotConfigured", "{err}");
    assert_eq!(other.connections(), 0);
    assert_eq!(configured_server.connections(), 0);
}

#[tokio::test]
async fn tls_required_against_a_server_without_encryption_fails_with_a_tls_code() {
    let server = TdsServer::start(USER, PASSWORD, databases()).await;
    let mut configured = entry(server.port, PASSWORD);
    configured.tls = TlsMode::Required;
    configured.tls_accept_invalid_certs = true;
    let err = list_databases(&[configured], &request(server.port))
        .await
        .expect_err("no TLS on the server");
    assert_eq!(err.code(), "DbTlsFailed", "{err}");
    assert!(server.batches().is_empty());
}

#[tokio::test]
async fn a_query_that_never_finishes_fails_with_db_query_timeout() {
    let server = TdsServer::start_unanswering(USER, PASSWORD).await;
    let mut configured = entry(server.port, PASSWORD);
    configured.query_timeout_secs = 1;
    let err = list_databases(&[configured], &request(server.port))
        .await
        .expect_err("no answer");
    assert_eq!(err.code(), "DbQueryTimeout", "{err}");
    assert_eq!(server.batches().len(), 1, "logged in and sent the query");
}

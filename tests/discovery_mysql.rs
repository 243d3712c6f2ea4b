//! The MySQL lister against the real MariaDB that scripts/test.sh starts
//! (DBS_TEST_MYSQL_*): exact listings, details, and each failure's code.

#[path = "support/discovery_env.rs"]
mod discovery_env;

use dbs_gateway::discovery::{
    list_databases, DatabaseConfig, DatabaseType, DiscoveryError, ListRequest, TlsMode,
};
use dbs_gateway::secret::Secret;
use discovery_env::{closed_port, env, env_port, quiet_listener, was_connected};
use mysql_async::prelude::Queryable;

const SYSTEM_DATABASES: [&str; 4] = ["information_schema", "mysql", "performance_schema", "sys"];

fn host() -> String {
    env("DBS_TEST_MYSQL_HOST")
}

fn port() -> u16 {
    env_port("DBS_TEST_MYSQL_PORT")
}

fn entry(user: &str, password: &str, port: u16) -> DatabaseConfig {
    let mut entry = DatabaseConfig::new(DatabaseType::Mysql, host(), port);
    entry.user = Some(user.into());
    entry.password = Some(Secret::new(password));
    entry
}

fn admin_entry() -> DatabaseConfig {
    entry(
        &env("DBS_TEST_MYSQL_ADMIN_USER"),
        &env("DBS_TEST_MYSQL_ADMIN_PASSWORD"),
        port(),
    )
}

fn request(host: &str, port: u16) -> ListRequest {
    ListRequest {
        db_type: DatabaseType::Mysql,
        host: host.into(),
        port,
    }
}

async fn admin() -> mysql_async::Conn {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host())
        .tcp_port(port())
        .user(Some(env("DBS_TEST_MYSQL_ADMIN_USER")))
        .pass(Some(env("DBS_TEST_MYSQL_ADMIN_PASSWORD")))
        .prefer_socket(false);
    mysql_async::Conn::new(opts).await.expect("admin login")
}

/// Creates `count` databases `{prefix}_00`.. and a user that sees only them.
async fn fifty_databases(prefix: &str, user: &str, password: &str, count: usize) -> Vec<String> {
    let mut conn = admin().await;
    conn.query_drop(format!("DROP USER IF EXISTS '{user}'@'127.0.0.1'"))
        .await
        .expect("drop user");
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}_{i:02}")).collect();
    for name in &names {
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
            .await
            .expect("drop");
        conn.query_drop(format!("CREATE DATABASE `{name}`"))
            .await
            .expect("create");
    }
    conn.query_drop(format!(
        "CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'"
    ))
    .await
    .expect("create user");
    conn.query_drop(format!(
        "GRANT ALL PRIVILEGES ON `{prefix}\\_%`.* TO '{user}'@'127.0.0.1'"
    ))
    .await
    .expect("grant");
    conn.disconnect().await.expect("disconnect");
    names
}

#[tokio::test]
async fn fifty_databases_are_listed_exactly_with_sizes_and_table_counts() {
    let names = fifty_databases("disc_fifty", "disc_fifty", "fifty-pw", 50).await;
    let mut conn = admin().await;
    // disc_fifty_00: three tables with rows and a view (not counted).
    for t in ["a", "b", "c"] {
        conn.query_drop(format!(
            "CREATE TABLE disc_fifty_00.{t} (id INT PRIMARY KEY, v VARCHAR(100)) ENGINE=InnoDB"
        ))
        .await
        .expect("table");
        conn.query_drop(format!(
            "INSERT INTO disc_fifty_00.{t} SELECT seq, REPEAT('x', 100) FROM disc_fifty_00.seq_1_to_500"
        ))
        .await
        .expect("rows");
    }
    conn.query_drop("CREATE VIEW disc_fifty_00.va AS SELECT id FROM disc_fifty_00.a")
        .await
        .expect("view");
    conn.query_drop("CREATE TABLE disc_fifty_07.t (id INT) ENGINE=InnoDB")
        .await
        .expect("table");
    conn.disconnect().await.expect("disconnect");

    let configured = [entry("disc_fifty", "fifty-pw", port())];
    let listing = list_databases(&configured, &request(&host(), port()))
        .await
        .expect("listing");
    assert_eq!(listing.names(), names, "exactly the 50 databases, in order");

    let db = |name: &str| {
        listing
            .databases
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    assert_eq!(db("disc_fifty_00").tables, Some(3), "views are not tables");
    assert!(db("disc_fifty_00").size_bytes.unwrap_or(0) > 0);
    assert_eq!(db("disc_fifty_07").tables, Some(1));
    assert_eq!(db("disc_fifty_49").tables, Some(0));
    assert_eq!(db("disc_fifty_49").size_bytes, Some(0));
    assert!(
        db("disc_fifty_00").size_bytes > db("disc_fifty_07").size_bytes,
        "1,500 rows take more room than an empty table"
    );
}

#[tokio::test]
async fn system_databases_are_left_out_even_for_a_user_who_sees_them() {
    let mut conn = admin().await;
    conn.query_drop("CREATE DATABASE IF NOT EXISTS disc_sys_probe")
        .await
        .expect("create");
    let visible: Vec<String> = conn.query("SHOW DATABASES").await.expect("show");
    conn.disconnect().await.expect("disconnect");
    for system in SYSTEM_DATABASES {
        assert!(visible.iter().any(|n| n == system), "admin sees {system}");
    }

    let listing = list_databases(&[admin_entry()], &request(&host(), port()))
        .await
        .expect("listing");
    let names = listing.names();
    for system in SYSTEM_DATABASES {
        assert!(!names.iter().any(|n| n == system), "{system} listed");
    }
    assert!(names.iter().any(|n| n == "disc_sys_probe"), "{names:?}");
}

#[tokio::test]
async fn password_file_entries_log_in() {
    fifty_databases("disc_pwfile", "disc_pwfile", "file-pw", 2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mysql.pw");
    std::fs::write(&path, "file-pw\n").expect("write");
    let mut entry = entry("disc_pwfile", "unused", port());
    entry.password = None;
    entry.password_file = Some(path);
    let listing = list_databases(&[entry], &request(&host(), port()))
        .await
        .expect("listing");
    assert_eq!(listing.names(), ["disc_pwfile_00", "disc_pwfile_01"]);
}

#[tokio::test]
async fn wrong_password_fails_with_db_auth_failed() {
    let configured = [entry(
        &env("DBS_TEST_MYSQL_ADMIN_USER"),
        "not-the-password",
        port(),
    )];
    let err = list_databases(&configured, &request(&host(), port()))
        .await
        .expect_err("wrong password");
    assert_eq!(err.code(), "DbAuthFailed", "{err}");
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("not-the-password"), "{err}");
}

#[tokio::test]
async fn closed_port_fails_with_db_connection_refused() {
    let closed = closed_port();
    let configured = [entry("u", "p", closed)];
    let err = list_databases(&configured, &request(&host(), closed))
        .await
        .expect_err("closed");
    assert_eq!(err.code(), "DbConnectionRefused", "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_server_that_never_answers_fails_with_db_connect_timeout() {
    let silent = quiet_listener("127.0.0.1", 0);
    let silent_port = silent.local_addr().expect("addr").port();
    let mut configured = entry("u", "p", silent_port);
    configured.connect_timeout_secs = 1;
    let err = list_databases(&[configured], &request("127.0.0.1", silent_port))
        .await
        .expect_err("silent");
    assert_eq!(err.code(), "DbConnectTimeout", "{err}");
}

#[tokio::test]
async fn tls_required_against_a_server_without_tls_fails_with_db_tls_mismatch() {
    let mut configured = admin_entry();
    configured.tls = TlsMode::Required;
    let err = list_databases(&[configured], &request(&host(), port()))
        .await
        .expect_err("no TLS on the server");
    assert_eq!(err.code(), "DbTlsMismatch", "{err}");
}

/// A hostile control plane names another endpoint: the stored credentials
/// must not go there, and no connection may be opened at all.
#[tokio::test]
async fn unconfigured_endpoint_fails_and_no_connection_is_made() {
    // Another port on the same host.
    let other_port = quiet_listener("127.0.0.1", 0);
    let p = other_port.local_addr().expect("addr").port();
    let err = list_databases(&[admin_entry()], &request("127.0.0.1", p))
        .await
        .expect_err("not configured");
    assert_eq!(err.code(), "EndpointNotConfigured", "{err}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{p}")), "{err}");
    assert!(!was_connected(&other_port), "a connection was made");

    // Another host (127.0.0.2 is loopback too), same port as the configured one.
    let other_host = quiet_listener("127.0.0.2", port());
    let err = list_databases(&[admin_entry()], &request("127.0.0.2", port()))
        .await
        .expect_err("not configured");
    assert_eq!(err.code(), "EndpointNotConfigured", "{err}");
    assert!(!was_connected(&other_host), "a connection was made");

    // Another type at the configured host and port.
    let err = list_databases(
        &[admin_entry()],
        &ListRequest {
            db_type: DatabaseType::Mssql,
            host: host(),
            port: port(),
        },
    )
    .await
    .expect_err("not configured");
    assert!(matches!(err, DiscoveryError::EndpointNotConfigured { .. }));
}

/// The TLS server (require_secure_transport=ON, certificate from a test CA).
fn tls_entry() -> DatabaseConfig {
    let mut entry = entry(
        &env("DBS_TEST_MYSQL_ADMIN_USER"),
        &env("DBS_TEST_MYSQL_ADMIN_PASSWORD"),
        env_port("DBS_TEST_MYSQL_TLS_PORT"),
    );
    entry.tls = TlsMode::Required;
    entry.tls_ca_file = Some(env("DBS_TEST_MYSQL_TLS_CA_FILE").into());
    entry
}

#[tokio::test]
async fn tls_with_the_right_ca_lists_and_tls_problems_have_their_codes() {
    let tls_port = env_port("DBS_TEST_MYSQL_TLS_PORT");
    let listing = list_databases(&[tls_entry()], &request(&host(), tls_port))
        .await
        .expect("TLS listing");
    assert!(!listing.names().iter().any(|n| n == "mysql"), "{listing:?}");

    let mut any_cert = tls_entry();
    any_cert.tls_ca_file = None;
    any_cert.tls_accept_invalid_certs = true;
    list_databases(&[any_cert], &request(&host(), tls_port))
        .await
        .expect("TLS listing, certificate not checked");

    // The test CA is not among the system roots.
    let mut untrusted = tls_entry();
    untrusted.tls_ca_file = None;
    let err = list_databases(&[untrusted], &request(&host(), tls_port))
        .await
        .expect_err("unknown CA");
    assert_eq!(err.code(), "DbTlsFailed", "{err}");

    // A plain login to a server with require_secure_transport: MariaDB
    // answers it like a wrong password, and the message says why it may be.
    let mut plain = tls_entry();
    plain.tls = TlsMode::Disabled;
    plain.tls_ca_file = None;
    let err = list_databases(&[plain], &request(&host(), tls_port))
        .await
        .expect_err("TLS required by the server");
    assert_eq!(err.code(), "DbAuthFailed", "{err}");
    assert!(
        err.to_string().contains("require_secure_transport"),
        "{err}"
    );
}

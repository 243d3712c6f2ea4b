//! The Redis lister against the real Redis servers that scripts/test.sh
//! starts (DBS_TEST_REDIS_*): key counts per database, ACL and password
//! logins, TLS, Cluster and Sentinel refusals, an endpoint without an entry
//! refused without connecting, and each failure's code.

#[path = "support/discovery_env.rs"]
mod discovery_env;

use std::time::Duration;

use dbs_gateway::discovery::{list_databases, DatabaseConfig, DatabaseType, ListRequest, TlsMode};
use dbs_gateway::secret::Secret;
use discovery_env::{closed_port, env, env_port};
use tokio::net::TcpListener;

fn host() -> String {
    env("DBS_TEST_REDIS_HOST")
}

fn request(port: u16) -> ListRequest {
    ListRequest {
        db_type: DatabaseType::Redis,
        host: host(),
        port,
    }
}

fn entry(port: u16, user: Option<&str>, password: Option<&str>) -> DatabaseConfig {
    let mut entry = DatabaseConfig::new(DatabaseType::Redis, host(), port);
    entry.user = user.map(str::to_string);
    entry.password = password.map(Secret::new);
    entry
}

fn acl_entry() -> DatabaseConfig {
    entry(
        env_port("DBS_TEST_REDIS_PORT"),
        Some(&env("DBS_TEST_REDIS_ACL_USER")),
        Some(&env("DBS_TEST_REDIS_ACL_PASSWORD")),
    )
}

/// A connection to the auth server as its default user.
async fn admin() -> redis::aio::MultiplexedConnection {
    let url = format!(
        "redis://:{}@{}:{}/",
        env("DBS_TEST_REDIS_PASSWORD"),
        host(),
        env_port("DBS_TEST_REDIS_PORT")
    );
    redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("admin login")
}

async fn fill(conn: &mut redis::aio::MultiplexedConnection, db: u32, keys: u32) {
    let mut pipe = redis::pipe();
    pipe.cmd("SELECT").arg(db).ignore();
    for i in 0..keys {
        pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    pipe.cmd("SELECT").arg(0).ignore();
    pipe.query_async::<()>(conn).await.expect("fill");
}

/// Only this test writes to the auth server, so its keyspace is known.
#[tokio::test]
async fn keys_in_db0_and_db5_are_listed_with_counts() {
    let mut conn = admin().await;
    redis::cmd("FLUSHALL")
        .query_async::<()>(&mut conn)
        .await
        .expect("flushall");
    fill(&mut conn, 0, 3).await;
    fill(&mut conn, 5, 7).await;

    let port = env_port("DBS_TEST_REDIS_PORT");
    for (how, configured) in [
        ("ACL user", acl_entry()),
        (
            "default user",
            entry(port, None, Some(&env("DBS_TEST_REDIS_PASSWORD"))),
        ),
    ] {
        let listing = list_databases(&[configured], &request(port))
            .await
            .unwrap_or_else(|e| panic!("{how}: {e}"));
        assert_eq!(listing.names(), ["db0", "db5"], "{how}");
        assert_eq!(listing.databases[0].keys, Some(3), "{how}");
        assert_eq!(listing.databases[1].keys, Some(7), "{how}");
        assert_eq!(listing.databases[0].size_bytes, None, "{how}");
    }
}

#[tokio::test]
async fn wrong_password_fails_with_db_auth_failed() {
    let port = env_port("DBS_TEST_REDIS_PORT");
    for configured in [
        entry(
            port,
            Some(&env("DBS_TEST_REDIS_ACL_USER")),
            Some("wrong-pw"),
        ),
        entry(port, None, Some("wrong-pw")),
    ] {
        let err = list_databases(&[configured], &request(port))
            .await
            .expect_err("wrong password");
        assert_eq!(err.code(), "DbAuthFailed", "{err}");
        assert!(!err.to_string().contains("wrong-pw"), "{err}");
    }
}

#[tokio::test]
async fn closed_port_fails_with_db_connection_refused() {
    let closed = closed_port();
    let err = list_databases(&[entry(closed, None, Some("pw"))], &request(closed))
        .await
        .expect_err("closed");
    assert_eq!(err.code(), "DbConnectionRefused", "{err}");
}

/// Redis without an entry is refused like every other type: no
/// connection is made, not even without AUTH, to a server that would
/// answer without a password.
#[tokio::test]
async fn unconfigured_endpoint_is_refused_without_connecting() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let configured = [acl_entry()];
    for port in [port, env_port("DBS_TEST_REDIS_OPEN_PORT")] {
        let err = list_databases(&configured, &request(port))
            .await
            .expect_err("no entry");
        assert_eq!(err.code(), "EndpointNotConfigured", "{err}");
        assert!(err.to_string().contains(&format!(":{port}")), "{err}");
    }
    let accepted = tokio::time::timeout(Duration::from_millis(500), listener.accept()).await;
    assert!(
        accepted.is_err(),
        "the agent connected to an unconfigured endpoint"
    );
}

#[tokio::test]
async fn cluster_and_sentinel_are_unsupported_endpoints() {
    for (what, var) in [
        ("cluster", "DBS_TEST_REDIS_CLUSTER_PORT"),
        ("sentinel", "DBS_TEST_REDIS_SENTINEL_PORT"),
    ] {
        let port = env_port(var);
        let err = list_databases(&[entry(port, None, None)], &request(port))
            .await
            .expect_err(what);
        assert_eq!(err.code(), "UnsupportedEndpoint", "{what}: {err}");
        assert!(err.to_string().to_lowercase().contains(what), "{err}");
    }
}

#[tokio::test]
async fn tls_with_the_right_ca_lists_and_mismatches_fail_with_tls_codes() {
    let tls_port = env_port("DBS_TEST_REDIS_TLS_PORT");
    let mut trusted = entry(tls_port, None, None);
    trusted.tls = TlsMode::Required;
    trusted.tls_ca_file = Some(env("DBS_TEST_REDIS_TLS_CA_FILE").into());
    list_databases(&[trusted.clone()], &request(tls_port))
        .await
        .expect("TLS listing");

    // The server's CA is not among the system roots.
    let mut untrusted = trusted.clone();
    untrusted.tls_ca_file = None;
    let err = list_databases(&[untrusted], &request(tls_port))
        .await
        .expect_err("unknown CA");
    assert_eq!(err.code(), "DbTlsFailed", "{err}");

    // TLS asked of a server that speaks plain RESP: Redis waits for the
    // end of a command line that a TLS hello never sends.
    let open_port = env_port("DBS_TEST_REDIS_OPEN_PORT");
    let mut tls_to_plain = entry(open_port, None, None);
    tls_to_plain.tls = TlsMode::Required;
    tls_to_plain.tls_accept_invalid_certs = true;
    tls_to_plain.connect_timeout_secs = 1;
    let err = list_databases(&[tls_to_plain], &request(open_port))
        .await
        .expect_err("plain server");
    assert_eq!(err.code(), "DbConnectTimeout", "{err}");
    assert!(err.to_string().contains("TLS"), "{err}");

    // Plain RESP sent to a TLS-only server.
    let mut plain_to_tls = entry(tls_port, None, None);
    plain_to_tls.connect_timeout_secs = 3;
    let err = list_databases(&[plain_to_tls], &request(tls_port))
        .await
        .expect_err("TLS server");
    assert_eq!(err.code(), "DbTlsMismatch", "{err}");
}

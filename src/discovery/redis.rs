//! Redis lister (redis crate): the logical databases that hold keys
//! (`db0`, `db5`, ...) with their key counts, from `INFO keyspace`.
//!
//! Logs in with an ACL user and password, a password alone (default user),
//! or nothing. A Sentinel (`redis_mode:sentinel`) or a Redis Cluster node
//! (`cluster_enabled:1`) is refused with [`DiscoveryError::UnsupportedEndpoint`]:
//! neither has numbered databases to list.

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, ProtocolVersion,
    RedisConnectionInfo, RedisError, TlsCertificates,
};

use super::error::DiscoveryError;
use super::{install_crypto_provider, within, DatabaseInfo, DbListing, Lister, Login, TlsMode};

/// Lists a standalone Redis server.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisLister;

impl Lister for RedisLister {
    async fn list(&self, login: &Login) -> Result<DbListing, DiscoveryError> {
        let endpoint = login.endpoint();
        let client = client(login)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(login.connect_timeout)
            .set_response_timeout(login.query_timeout);
        let mut conn = within(
            login.connect_timeout,
            async {
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(|e| connect_error(login, e))
            },
            || DiscoveryError::ConnectTimeout {
                endpoint: endpoint.clone(),
                secs: login.connect_timeout.as_secs(),
                tls_required: login.tls == TlsMode::Required,
            },
        )
        .await?;
        within(login.query_timeout, keyspace(&mut conn, login), || {
            DiscoveryError::QueryTimeout {
                endpoint: endpoint.clone(),
                secs: login.query_timeout.as_secs(),
            }
        })
        .await
    }
}

/// The client for `login`: plain TCP or TLS, with its credentials.
fn client(login: &Login) -> Result<Client, DiscoveryError> {
    let addr = match login.tls {
        TlsMode::Disabled => ConnectionAddr::Tcp(login.host.clone(), login.port),
        TlsMode::Required => {
            install_crypto_provider();
            ConnectionAddr::TcpTls {
                host: login.host.clone(),
                port: login.port,
                insecure: login.tls_accept_invalid_certs,
                tls_params: None,
            }
        }
    };
    let info = ConnectionInfo {
        addr,
        redis: RedisConnectionInfo {
            db: 0,
            username: login.user.clone(),
            password: login.password.as_ref().map(|p| p.expose().to_string()),
            protocol: ProtocolVersion::RESP2,
        },
    };
    let built = match (&login.tls, &login.tls_ca_file) {
        (TlsMode::Required, Some(ca)) => {
            let root_cert = std::fs::read(ca).map_err(|e| {
                DiscoveryError::InvalidConfig(format!(
                    "{}: tls_ca_file {}: {e}",
                    login.endpoint(),
                    ca.display()
                ))
            })?;
            Client::build_with_tls(
                info,
                TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                },
            )
        }
        _ => Client::open(info),
    };
    built.map_err(|e| DiscoveryError::InvalidConfig(format!("{}: {e}", login.endpoint())))
}

/// Refuses Sentinel and Cluster, then reads the keyspace.
async fn keyspace(
    conn: &mut MultiplexedConnection,
    login: &Login,
) -> Result<DbListing, DiscoveryError> {
    let server = info(conn, "server", login).await?;
    if field(&server, "redis_mode") == Some("sentinel") {
        return Err(DiscoveryError::UnsupportedEndpoint {
            endpoint: login.endpoint(),
            detail: "this is a Redis Sentinel (redis_mode:sentinel); configure the master it monitors instead".into(),
        });
    }
    let cluster = info(conn, "cluster", login).await?;
    if field(&cluster, "cluster_enabled") == Some("1") {
        return Err(DiscoveryError::UnsupportedEndpoint {
            endpoint: login.endpoint(),
            detail: "this is a Redis Cluster node (cluster_enabled:1); a cluster has only db0 and is not listed by database".into(),
        });
    }
    let keyspace = info(conn, "keyspace", login).await?;
    parse_keyspace(&keyspace).map_err(|detail| DiscoveryError::Protocol {
        endpoint: login.endpoint(),
        detail,
    })
}

/// `INFO section`.
async fn info(
    conn: &mut MultiplexedConnection,
    section: &str,
    login: &Login,
) -> Result<String, DiscoveryError> {
    redis::cmd("INFO")
        .arg(section)
        .query_async(conn)
        .await
        .map_err(|e| query_error(login, e))
}

/// The value of `name:value` in an INFO answer.
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// Parses `INFO keyspace` lines like `db5:keys=3,expires=0,avg_ttl=0`.
fn parse_keyspace(text: &str) -> Result<DbListing, String> {
    let mut databases = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, stats)) = line.split_once(':') else {
            return Err(format!("unexpected INFO keyspace line `{line}`"));
        };
        let keys = stats
            .split(',')
            .find_map(|kv| kv.strip_prefix("keys="))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| format!("no key count in INFO keyspace line `{line}`"))?;
        if keys > 0 {
            databases.push(DatabaseInfo {
                keys: Some(keys),
                ..DatabaseInfo::named(name)
            });
        }
    }
    // db2 before db10.
    databases.sort_by_key(|d| (d.name.len(), d.name.clone()));
    Ok(DbListing { databases })
}

/// True for the server's answers to a refused AUTH, or to a command sent
/// without AUTH to a server that needs it.
fn is_auth_error(err: &RedisError) -> bool {
    err.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(err.code(), Some("WRONGPASS" | "NOAUTH"))
}

/// Maps a failure to connect and log in.
fn connect_error(login: &Login, err: RedisError) -> DiscoveryError {
    let endpoint = login.endpoint();
    if is_auth_error(&err) {
        return auth_error(login, &err);
    }
    if let Some(tls) = tls_error(login, &err) {
        return tls;
    }
    if err.is_connection_refusal() {
        return DiscoveryError::ConnectionRefused { endpoint };
    }
    if err.is_timeout() {
        return DiscoveryError::ConnectTimeout {
            endpoint,
            secs: login.connect_timeout.as_secs(),
            tls_required: login.tls == TlsMode::Required,
        };
    }
    if err.is_io_error() {
        return DiscoveryError::Unreachable {
            endpoint,
            detail: err.to_string(),
        };
    }
    DiscoveryError::Protocol {
        endpoint,
        detail: err.to_string(),
    }
}

/// Maps a failure of an INFO command.
fn query_error(login: &Login, err: RedisError) -> DiscoveryError {
    if is_auth_error(&err) {
        return auth_error(login, &err);
    }
    if err.is_timeout() {
        return DiscoveryError::QueryTimeout {
            endpoint: login.endpoint(),
            secs: login.query_timeout.as_secs(),
        };
    }
    if err.is_io_error() {
        return DiscoveryError::Unreachable {
            endpoint: login.endpoint(),
            detail: format!("connection lost during the query: {err}"),
        };
    }
    DiscoveryError::QueryFailed {
        endpoint: login.endpoint(),
        detail: err.to_string(),
    }
}

fn auth_error(login: &Login, err: &RedisError) -> DiscoveryError {
    let detail = if login.password.is_none() {
        format!("{err}; the server needs a password: set password_file in its [[databases]] entry")
    } else {
        err.to_string()
    };
    DiscoveryError::AuthFailed {
        endpoint: login.endpoint(),
        detail,
    }
}

/// A TLS failure, or `None` for other errors. With TLS required: see
/// [`DiscoveryError::from_tls_io`]. Without TLS: a server that hangs up on a
/// fresh connection before answering is a TLS-only server (a plain Redis
/// answers even a refusal with an error reply).
fn tls_error(login: &Login, err: &RedisError) -> Option<DiscoveryError> {
    let endpoint = login.endpoint();
    if login.tls == TlsMode::Disabled {
        return err
            .is_connection_dropped()
            .then(|| DiscoveryError::TlsMismatch {
                endpoint,
                detail: format!(
                    "tls = \"disabled\" but the server hung up before answering; it may accept TLS only ({err})"
                ),
            });
    }
    let io = std::error::Error::source(err)?.downcast_ref::<std::io::Error>()?;
    DiscoveryError::from_tls_io(&endpoint, io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_lists_databases_with_keys_in_numeric_order() {
        let text = "# Keyspace\r\ndb10:keys=2,expires=0,avg_ttl=0\r\ndb0:keys=3,expires=1,avg_ttl=5\r\ndb5:keys=0,expires=0,avg_ttl=0\r\n";
        let listing = parse_keyspace(text).expect("parses");
        assert_eq!(listing.names(), ["db0", "db10"]);
        assert_eq!(listing.databases[0].keys, Some(3));
    }

    #[test]
    fn bad_keyspace_lines_are_errors() {
        assert!(parse_keyspace("db0 keys=3").is_err());
        assert!(parse_keyspace("db0:expires=3").is_err());
    }

    #[test]
    fn info_fields_are_found_by_exact_name() {
        let text = "# Server\r\nredis_version:7.0.15\r\nredis_mode:sentinel\r\n";
        assert_eq!(field(text, "redis_mode"), Some("sentinel"));
        assert_eq!(field(text, "redis"), None);
    }
}

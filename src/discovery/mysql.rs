//! MySQL / MariaDB lister (mysql_async): the user databases, without
//! information_schema, mysql, performance_schema and sys, with the size
//! (data + index bytes) and table count of each, from information_schema.
//!
//! One plain TCP connection per listing (never the server's Unix socket, so
//! the endpoint named is the endpoint used); closed afterwards.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, DriverError, IoError, OptsBuilder, SslOpts};

use super::error::DiscoveryError;
use super::{install_crypto_provider, within, DatabaseInfo, DbListing, Lister, Login, TlsMode};

/// One row per user database: name, table count (views left out), bytes.
const LIST_QUERY: &str = "SELECT s.SCHEMA_NAME, \
       COUNT(t.TABLE_NAME), \
       CAST(COALESCE(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0) AS UNSIGNED) \
  FROM information_schema.SCHEMATA s \
  LEFT JOIN information_schema.TABLES t \
    ON t.TABLE_SCHEMA = s.SCHEMA_NAME AND t.TABLE_TYPE <> 'VIEW' \
 WHERE s.SCHEMA_NAME NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys') \
 GROUP BY s.SCHEMA_NAME \
 ORDER BY s.SCHEMA_NAME";

/// Server error codes that mean the login was refused.
const ER_ACCESS_DENIED_ERROR: u16 = 1045;
const ER_ACCESS_DENIED_NO_PASSWORD_ERROR: u16 = 1698;
/// MySQL's `require_secure_transport` refusal of a plain connection.
const ER_SECURE_TRANSPORT_REQUIRED: u16 = 3159;

/// Lists a MySQL or MariaDB server.
#[derive(Debug, Clone, Copy, Default)]
pub struct MysqlLister;

impl Lister for MysqlLister {
    async fn list(&self, login: &Login) -> Result<DbListing, DiscoveryError> {
        let endpoint = login.endpoint();
        let mut conn = connect(login).await?;
        let rows: Vec<(String, u64, u64)> = within(
            login.query_timeout,
            async {
                conn.query(LIST_QUERY)
                    .await
                    .map_err(|e| query_error(&endpoint, e))
            },
            || DiscoveryError::QueryTimeout {
                endpoint: endpoint.clone(),
                secs: login.query_timeout.as_secs(),
            },
        )
        .await?;
        if let Err(e) = conn.disconnect().await {
            tracing::debug!(endpoint = %endpoint, error = %e, "mysql disconnect");
        }
        Ok(DbListing {
            databases: rows
                .into_iter()
                .map(|(name, tables, size)| DatabaseInfo {
                    size_bytes: Some(size),
                    tables: Some(tables),
                    ..DatabaseInfo::named(name)
                })
                .collect(),
        })
    }
}

/// One connection for `login`, logged in within its connect timeout; the
/// backups use it too.
pub async fn connect(login: &Login) -> Result<Conn, DiscoveryError> {
    let endpoint = login.endpoint();
    within(
        login.connect_timeout,
        async {
            Conn::new(opts(login))
                .await
                .map_err(|e| connect_error(&endpoint, login.tls, e))
        },
        || DiscoveryError::ConnectTimeout {
            endpoint: endpoint.clone(),
            secs: login.connect_timeout.as_secs(),
            tls_required: login.tls == TlsMode::Required,
        },
    )
    .await
}

/// Driver options for `login`: TCP only, no cleartext password plugin.
fn opts(login: &Login) -> OptsBuilder {
    let ssl = (login.tls == TlsMode::Required).then(|| {
        install_crypto_provider();
        let mut ssl = SslOpts::default()
            .with_danger_accept_invalid_certs(login.tls_accept_invalid_certs)
            .with_danger_skip_domain_validation(login.tls_accept_invalid_certs);
        if let Some(ca) = &login.tls_ca_file {
            ssl = ssl.with_root_certs(vec![ca.clone().into()]);
        }
        ssl
    });
    OptsBuilder::default()
        .ip_or_hostname(login.host.clone())
        .tcp_port(login.port)
        .user(login.user.clone())
        .pass(login.password.as_ref().map(|p| p.expose().to_string()))
        .prefer_socket(false)
        .enable_cleartext_plugin(false)
        .ssl_opts(ssl)
}

/// Maps a failure to connect and log in.
fn connect_error(endpoint: &str, tls: TlsMode, err: mysql_async::Error) -> DiscoveryError {
    let endpoint_s = endpoint.to_string();
    match err {
        mysql_async::Error::Server(e)
            if e.code == ER_ACCESS_DENIED_ERROR || e.code == ER_ACCESS_DENIED_NO_PASSWORD_ERROR =>
        {
            // MariaDB refuses a plain login under require_secure_transport
            // with the same error as a wrong password.
            let hint = if tls == TlsMode::Disabled {
                " (or, with tls = \"disabled\", the server has require_secure_transport on)"
            } else {
                ""
            };
            DiscoveryError::AuthFailed {
                endpoint: endpoint_s,
                detail: format!("{}{hint}", e.message),
            }
        }
        mysql_async::Error::Server(e) if e.code == ER_SECURE_TRANSPORT_REQUIRED => {
            DiscoveryError::TlsMismatch {
                endpoint: endpoint_s,
                detail: format!(
                    "tls = \"disabled\" but the server requires TLS ({})",
                    e.message
                ),
            }
        }
        mysql_async::Error::Server(e) => DiscoveryError::Unreachable {
            endpoint: endpoint_s,
            detail: format!("server refused the connection: {e}"),
        },
        mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer) => {
            DiscoveryError::TlsMismatch {
                endpoint: endpoint_s,
                detail: "tls = \"required\" but the server does not offer TLS".into(),
            }
        }
        mysql_async::Error::Io(IoError::Tls(e)) => DiscoveryError::TlsFailed {
            endpoint: endpoint_s,
            detail: e.to_string(),
        },
        mysql_async::Error::Io(IoError::Io(e)) => {
            if let Some(tls_err) = DiscoveryError::from_tls_io(endpoint, &e) {
                tls_err
            } else if tls == TlsMode::Required && e.kind() == std::io::ErrorKind::UnexpectedEof {
                DiscoveryError::TlsFailed {
                    endpoint: endpoint_s,
                    detail: format!("connection closed during the TLS handshake: {e}"),
                }
            } else {
                DiscoveryError::from_connect_io(endpoint, &e)
            }
        }
        other => DiscoveryError::Protocol {
            endpoint: endpoint_s,
            detail: other.to_string(),
        },
    }
}

/// Maps a failure of the listing query.
fn query_error(endpoint: &str, err: mysql_async::Error) -> DiscoveryError {
    match err {
        mysql_async::Error::Server(e) => DiscoveryError::QueryFailed {
            endpoint: endpoint.to_string(),
            detail: e.to_string(),
        },
        mysql_async::Error::Io(IoError::Io(e)) => DiscoveryError::Unreachable {
            endpoint: endpoint.to_string(),
            detail: format!("connection lost during the query: {e}"),
        },
        other => DiscoveryError::Protocol {
            endpoint: endpoint.to_string(),
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_leaves_out_every_system_database() {
        for name in ["information_schema", "mysql", "performance_schema", "sys"] {
            assert!(LIST_QUERY.contains(&format!("'{name}'")), "{name}");
        }
    }

    #[test]
    fn access_denied_is_an_auth_failure() {
        let err = mysql_async::Error::Server(mysql_async::ServerError {
            code: ER_ACCESS_DENIED_ERROR,
            message: "Access denied for user 'u'@'localhost'".into(),
            state: "28000".into(),
        });
        let mapped = connect_error("mysql h:1", TlsMode::Disabled, err);
        assert_eq!(mapped.code(), "DbAuthFailed");
    }
}

//! Microsoft SQL Server lister (tiberius, SQL Server authentication): the
//! rows of `sys.databases` without master, tempdb, model and msdb, with
//! `state_desc` and `recovery_model_desc`.
//!
//! SQL Server cannot run on the project's machines: this path is tested
//! against a TDS-speaking test server (tests/support/tds_server.rs), not
//! against SQL Server itself.

use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::error::DiscoveryError;
use super::{within, DatabaseInfo, DbListing, Lister, Login, TlsMode};

/// One row per user database: name, state, recovery model.
const LIST_QUERY: &str = "SELECT name, state_desc, recovery_model_desc \
  FROM sys.databases \
 WHERE name NOT IN ('master', 'tempdb', 'model', 'msdb') \
 ORDER BY name";

/// SQL Server's "Login failed for user" error number.
const LOGIN_FAILED: u32 = 18456;

/// Lists a SQL Server instance.
#[derive(Debug, Clone, Copy, Default)]
pub struct MssqlLister;

impl Lister for MssqlLister {
    async fn list(&self, login: &Login) -> Result<DbListing, DiscoveryError> {
        // The driver panics on some malformed server answers; running it in
        // its own task turns such a panic into an error of this listing.
        let owned = login.clone();
        tokio::spawn(async move { list(&owned).await })
            .await
            .unwrap_or_else(|e| {
                Err(DiscoveryError::Protocol {
                    endpoint: login.endpoint(),
                    detail: format!("the TDS driver failed on the server's answer: {e}"),
                })
            })
    }
}

async fn list(login: &Login) -> Result<DbListing, DiscoveryError> {
    let endpoint = login.endpoint();
    let mut client = within(login.connect_timeout, connect(login, &endpoint), || {
        DiscoveryError::ConnectTimeout {
            endpoint: endpoint.clone(),
            secs: login.connect_timeout.as_secs(),
            tls_required: login.tls == TlsMode::Required,
        }
    })
    .await?;
    let rows = within(
        login.query_timeout,
        async {
            client
                .simple_query(LIST_QUERY)
                .await
                .map_err(|e| query_error(&endpoint, e))?
                .into_first_result()
                .await
                .map_err(|e| query_error(&endpoint, e))
        },
        || DiscoveryError::QueryTimeout {
            endpoint: endpoint.clone(),
            secs: login.query_timeout.as_secs(),
        },
    )
    .await?;
    let mut databases = Vec::with_capacity(rows.len());
    for row in rows {
        let text = |i: usize| -> Result<Option<String>, DiscoveryError> {
            row.try_get::<&str, _>(i)
                .map(|v| v.map(str::to_string))
                .map_err(|e| query_error(&endpoint, e))
        };
        let Some(name) = text(0)? else {
            continue;
        };
        databases.push(DatabaseInfo {
            state: text(1)?,
            recovery_model: text(2)?,
            ..DatabaseInfo::named(name)
        });
    }
    if let Err(e) = client.close().await {
        tracing::debug!(endpoint = %endpoint, error = %e, "mssql close");
    }
    Ok(DbListing { databases })
}

/// Opens the TCP connection and logs in.
async fn connect(
    login: &Login,
    endpoint: &str,
) -> Result<Client<Compat<TcpStream>>, DiscoveryError> {
    let tcp = TcpStream::connect((login.host.as_str(), login.port))
        .await
        .map_err(|e| DiscoveryError::from_connect_io(endpoint, &e))?;
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(endpoint = %endpoint, error = %e, "set_nodelay");
    }
    Client::connect(config(login), tcp.compat_write())
        .await
        .map_err(|e| connect_error(endpoint, login.tls, e))
}

/// Driver configuration for `login`.
fn config(login: &Login) -> Config {
    let mut config = Config::new();
    config.host(&login.host);
    config.port(login.port);
    config.application_name("dbs-gateway");
    config.authentication(AuthMethod::sql_server(
        login.user.as_deref().unwrap_or_default(),
        login
            .password
            .as_ref()
            .map(|p| p.expose())
            .unwrap_or_default(),
    ));
    match login.tls {
        TlsMode::Disabled => config.encryption(EncryptionLevel::NotSupported),
        TlsMode::Required => {
            config.encryption(EncryptionLevel::Required);
            if login.tls_accept_invalid_certs {
                config.trust_cert();
            } else if let Some(ca) = &login.tls_ca_file {
                config.trust_cert_ca(ca.display());
            }
        }
    }
    config
}

/// Maps a failure to connect and log in.
fn connect_error(endpoint: &str, tls: TlsMode, err: tiberius::error::Error) -> DiscoveryError {
    use tiberius::error::Error;
    let endpoint_s = endpoint.to_string();
    match err {
        Error::Server(e) if e.code() == LOGIN_FAILED => DiscoveryError::AuthFailed {
            endpoint: endpoint_s,
            detail: e.message().to_string(),
        },
        // The client asked for no encryption, so a TLS handshake at all
        // means the server insists on it.
        Error::Tls(detail) if tls == TlsMode::Disabled => DiscoveryError::TlsMismatch {
            endpoint: endpoint_s,
            detail: format!("tls = \"disabled\" but the server requires encryption ({detail})"),
        },
        Error::Tls(detail) => DiscoveryError::TlsFailed {
            endpoint: endpoint_s,
            detail,
        },
        Error::Io { kind, message } if tls == TlsMode::Required => DiscoveryError::TlsFailed {
            endpoint: endpoint_s,
            detail: format!("connection lost during the TLS handshake ({kind:?}: {message})"),
        },
        Error::Io { kind, message } => {
            DiscoveryError::from_connect_io(endpoint, &std::io::Error::new(kind, message))
        }
        Error::Server(e) => DiscoveryError::Unreachable {
            endpoint: endpoint_s,
            detail: format!("server refused the connection: {e}"),
        },
        Error::Routing { host, port } => DiscoveryError::UnsupportedEndpoint {
            endpoint: endpoint_s,
            detail: format!("the server redirects to {host}:{port}; configure that endpoint"),
        },
        other => DiscoveryError::Protocol {
            endpoint: endpoint_s,
            detail: other.to_string(),
        },
    }
}

/// Maps a failure of the listing query.
fn query_error(endpoint: &str, err: tiberius::error::Error) -> DiscoveryError {
    use tiberius::error::Error;
    match err {
        Error::Server(e) => DiscoveryError::QueryFailed {
            endpoint: endpoint.to_string(),
            detail: e.to_string(),
        },
        Error::Io { kind, message } => DiscoveryError::Unreachable {
            endpoint: endpoint.to_string(),
            detail: format!("connection lost during the query ({kind:?}: {message})"),
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
        for name in ["master", "tempdb", "model", "msdb"] {
            assert!(LIST_QUERY.contains(&format!("'{name}'")), "{name}");
        }
    }

    #[test]
    fn a_forced_tls_handshake_with_tls_disabled_is_a_mismatch() {
        let err = tiberius::error::Error::Tls("invalid peer certificate".into());
        assert_eq!(
            connect_error("mssql h:1", TlsMode::Disabled, err.clone()).code(),
            "DbTlsMismatch"
        );
        assert_eq!(
            connect_error("mssql h:1", TlsMode::Required, err).code(),
            "DbTlsFailed"
        );
    }
}

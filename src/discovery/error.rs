//! Errors of database discovery, each with a stable code for the control
//! plane (`ErrCode` of a failed get-DB-list task) and a retry hint.
//!
//! Messages name the endpoint (`mysql 127.0.0.1:3306`) and never a password.

use thiserror::Error;

/// Why a database listing failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    /// The task names a database type this agent cannot list.
    #[error("unsupported database type `{0}`: expected MySQL, MSSQL or Redis")]
    UnsupportedDatabaseType(String),

    /// A `[[databases]]` entry cannot be used (e.g. its password_file is unreadable).
    #[error("database config: {0}")]
    InvalidConfig(String),

    /// No `[[databases]]` entry for the endpoint; no connection was made.
    #[error("no [[databases]] entry for {endpoint} in the agent's config file; add one with its user and password to list its databases")]
    EndpointNotConfigured {
        /// `type host:port`.
        endpoint: String,
    },

    /// The server refused the user name or password.
    #[error("{endpoint}: login failed: {detail}")]
    AuthFailed {
        /// `type host:port`.
        endpoint: String,
        /// The server's words.
        detail: String,
    },

    /// Nothing listens on the port.
    #[error("{endpoint}: connection refused (is the server running on that port?)")]
    ConnectionRefused {
        /// `type host:port`.
        endpoint: String,
    },

    /// The host could not be reached (name not resolved, no route, reset).
    #[error("{endpoint}: unreachable: {detail}")]
    Unreachable {
        /// `type host:port`.
        endpoint: String,
        /// The operating system's or driver's words.
        detail: String,
    },

    /// Connecting and logging in took longer than `connect_timeout_secs`.
    #[error("{endpoint}: no connection within {secs} s (connect_timeout_secs){}",
        if *tls_required { "; with tls = \"required\" this is also what a server that does not speak TLS looks like" } else { "" })]
    ConnectTimeout {
        /// `type host:port`.
        endpoint: String,
        /// The limit that was exceeded.
        secs: u64,
        /// Whether TLS was asked for (a plain server may wait forever for
        /// the end of a TLS hello).
        tls_required: bool,
    },

    /// The listing query took longer than `query_timeout_secs`.
    #[error("{endpoint}: listing query did not finish within {secs} s (query_timeout_secs)")]
    QueryTimeout {
        /// `type host:port`.
        endpoint: String,
        /// The limit that was exceeded.
        secs: u64,
    },

    /// One side wants TLS and the other does not offer it.
    #[error("{endpoint}: TLS mismatch: {detail}")]
    TlsMismatch {
        /// `type host:port`.
        endpoint: String,
        /// Which side wanted what.
        detail: String,
    },

    /// The TLS handshake failed (e.g. the certificate is not trusted).
    #[error("{endpoint}: TLS handshake failed: {detail}")]
    TlsFailed {
        /// `type host:port`.
        endpoint: String,
        /// The TLS library's words.
        detail: String,
    },

    /// The endpoint is a kind the lister does not handle (Redis Cluster, Sentinel).
    #[error("{endpoint}: unsupported endpoint: {detail}")]
    UnsupportedEndpoint {
        /// `type host:port`.
        endpoint: String,
        /// What it is and what to configure instead.
        detail: String,
    },

    /// Logged in, but the server refused or failed the listing query.
    #[error("{endpoint}: listing query failed: {detail}")]
    QueryFailed {
        /// `type host:port`.
        endpoint: String,
        /// The server's words.
        detail: String,
    },

    /// The peer does not speak the expected protocol.
    #[error("{endpoint}: protocol error: {detail}")]
    Protocol {
        /// `type host:port`.
        endpoint: String,
        /// The driver's words.
        detail: String,
    },
}

impl DiscoveryError {
    /// The stable error code reported to the control plane.
    pub fn code(&self) -> &'static str {
        match self {
            DiscoveryError::UnsupportedDatabaseType(_) => "UnsupportedDatabaseType",
            DiscoveryError::InvalidConfig(_) => "InvalidDatabaseConfig",
            DiscoveryError::EndpointNotConfigured { .. } => "EndpointNotConfigured",
            DiscoveryError::AuthFailed { .. } => "DbAuthFailed",
            DiscoveryError::ConnectionRefused { .. } => "DbConnectionRefused",
            DiscoveryError::Unreachable { .. } => "DbUnreachable",
            DiscoveryError::ConnectTimeout { .. } => "DbConnectTimeout",
            DiscoveryError::QueryTimeout { .. } => "DbQueryTimeout",
            DiscoveryError::TlsMismatch { .. } => "DbTlsMismatch",
            DiscoveryError::TlsFailed { .. } => "DbTlsFailed",
            DiscoveryError::UnsupportedEndpoint { .. } => "UnsupportedEndpoint",
            DiscoveryError::QueryFailed { .. } => "DbQueryFailed",
            DiscoveryError::Protocol { .. } => "DbProtocolError",
        }
    }

    /// True when trying again later may succeed without a config change.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            DiscoveryError::ConnectionRefused { .. }
                | DiscoveryError::Unreachable { .. }
                | DiscoveryError::ConnectTimeout { .. }
                | DiscoveryError::QueryTimeout { .. }
        )
    }

    /// Maps an I/O error that carries a rustls error: bytes that are not TLS
    /// (a mismatch), or a refused handshake (certificate not trusted, ...).
    /// `None` for other I/O errors.
    pub(crate) fn from_tls_io(endpoint: &str, err: &std::io::Error) -> Option<Self> {
        let tls = err.get_ref()?.downcast_ref::<rustls::Error>()?;
        Some(match tls {
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                DiscoveryError::TlsMismatch {
                    endpoint: endpoint.to_string(),
                    detail: format!(
                        "tls = \"required\" but the server does not answer with TLS ({tls})"
                    ),
                }
            }
            other => DiscoveryError::TlsFailed {
                endpoint: endpoint.to_string(),
                detail: other.to_string(),
            },
        })
    }

    /// Maps an I/O error met while connecting.
    pub(crate) fn from_connect_io(endpoint: &str, err: &std::io::Error) -> Self {
        match err.kind() {
            std::io::ErrorKind::ConnectionRefused => DiscoveryError::ConnectionRefused {
                endpoint: endpoint.to_string(),
            },
            _ => DiscoveryError::Unreachable {
                endpoint: endpoint.to_string(),
                detail: err.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct() {
        let e = || "mysql h:1".to_string();
        let d = || "x".to_string();
        let all = [
            DiscoveryError::UnsupportedDatabaseType(d()),
            DiscoveryError::InvalidConfig(d()),
            DiscoveryError::EndpointNotConfigured { endpoint: e() },
            DiscoveryError::AuthFailed {
                endpoint: e(),
                detail: d(),
            },
            DiscoveryError::ConnectionRefused { endpoint: e() },
            DiscoveryError::Unreachable {
                endpoint: e(),
                detail: d(),
            },
            DiscoveryError::ConnectTimeout {
                endpoint: e(),
                secs: 1,
                tls_required: false,
            },
            DiscoveryError::QueryTimeout {
                endpoint: e(),
                secs: 1,
            },
            DiscoveryError::TlsMismatch {
                endpoint: e(),
                detail: d(),
            },
            DiscoveryError::TlsFailed {
                endpoint: e(),
                detail: d(),
            },
            DiscoveryError::UnsupportedEndpoint {
                endpoint: e(),
                detail: d(),
            },
            DiscoveryError::QueryFailed {
                endpoint: e(),
                detail: d(),
            },
            DiscoveryError::Protocol {
                endpoint: e(),
                detail: d(),
            },
        ];
        let mut codes: Vec<_> = all.iter().map(DiscoveryError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn refused_connect_maps_to_its_own_code() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let err = DiscoveryError::from_connect_io("redis h:1", &io);
        assert_eq!(err.code(), "DbConnectionRefused");
        assert!(err.is_retryable());
    }

    #[test]
    fn rustls_errors_inside_io_errors_are_tls_codes() {
        let cert = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let err = DiscoveryError::from_tls_io("mysql h:1", &cert).expect("tls");
        assert_eq!(err.code(), "DbTlsFailed");
        let not_tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        let err = DiscoveryError::from_tls_io("mysql h:1", &not_tls).expect("tls");
        assert_eq!(err.code(), "DbTlsMismatch");
        let plain = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(DiscoveryError::from_tls_io("mysql h:1", &plain).is_none());
    }
}

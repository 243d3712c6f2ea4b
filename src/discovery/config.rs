//! The `[[databases]]` entries of gateway.toml: how the agent logs in to each
//! local database endpoint. Owns parsing, defaults, validation and reading
//! `password_file`; it opens no connection.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::DiscoveryError;
use crate::secret::Secret;

/// Seconds allowed for connecting and logging in, unless configured.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;
/// Seconds allowed for the listing query, unless configured.
pub const DEFAULT_QUERY_TIMEOUT_SECS: u64 = 60;

/// The kinds of database the agent can list.
///
/// Parses case-insensitively, so both the config's `mysql` and the API's
/// `DatabaseType` values (`MySQL`, `MSSQL`, `Redis`) are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatabaseType {
    /// MySQL or MariaDB.
    Mysql,
    /// Microsoft SQL Server.
    Mssql,
    /// Redis (standalone).
    Redis,
}

impl DatabaseType {
    /// The config spelling: `mysql`, `mssql`, `redis`.
    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseType::Mysql => "mysql",
            DatabaseType::Mssql => "mssql",
            DatabaseType::Redis => "redis",
        }
    }

    /// The API's spelling: `MySQL`, `MSSQL`, `Redis`.
    pub fn api_name(self) -> &'static str {
        match self {
            DatabaseType::Mysql => "MySQL",
            DatabaseType::Mssql => "MSSQL",
            DatabaseType::Redis => "Redis",
        }
    }

    /// The port the server listens on when the entry names none.
    pub fn default_port(self) -> u16 {
        match self {
            DatabaseType::Mysql => 3306,
            DatabaseType::Mssql => 1433,
            DatabaseType::Redis => 6379,
        }
    }
}

impl fmt::Display for DatabaseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatabaseType {
    type Err = DiscoveryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mysql" => Ok(DatabaseType::Mysql),
            "mssql" => Ok(DatabaseType::Mssql),
            "redis" => Ok(DatabaseType::Redis),
            _ => Err(DiscoveryError::UnsupportedDatabaseType(s.to_string())),
        }
    }
}

impl<'de> Deserialize<'de> for DatabaseType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom(format!("`{s}`: expected mysql, mssql or redis")))
    }
}

impl Serialize for DatabaseType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Whether the connection to the database is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain TCP; the client does not ask for TLS (usual for a database on
    /// the same host, reached over loopback).
    #[default]
    Disabled,
    /// TLS is required and the server certificate is verified (against
    /// `tls_ca_file` when given, else the system roots).
    Required,
}

/// One `[[databases]]` entry of gateway.toml: the credentials for one endpoint.
///
/// The agent uses these credentials only for the endpoint (type, host, port)
/// they are written for.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Kind of database: `mysql`, `mssql` or `redis`.
    #[serde(rename = "type")]
    pub db_type: DatabaseType,
    /// Host name or IP address, as the control plane names it
    /// (`SourceEndpointIP`); compared case-insensitively, never resolved.
    pub host: String,
    /// TCP port; defaults to 3306 (mysql), 1433 (mssql), 6379 (redis).
    #[serde(default)]
    pub port: Option<u16>,
    /// Login name. Required for mysql and mssql; for redis, an ACL user
    /// (omit it to authenticate as the default user with `password` only).
    #[serde(default)]
    pub user: Option<String>,
    /// Password, inline. Mutually exclusive with `password_file`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// File holding the password (one line; a trailing newline is dropped).
    /// Mutually exclusive with `password`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// `disabled` (default) or `required`.
    #[serde(default)]
    pub tls: TlsMode,
    /// PEM file of the CA that signed the server certificate, for
    /// `tls = "required"`; the system roots are used when omitted.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// Accept any server certificate (self-signed, wrong name). Unsafe
    /// outside a loopback connection; default false.
    #[serde(default)]
    pub tls_accept_invalid_certs: bool,
    /// Seconds allowed for connecting and logging in; default 10.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// Seconds allowed for the listing query; default 60.
    #[serde(default = "default_query_timeout_secs")]
    pub query_timeout_secs: u64,
}

fn default_connect_timeout_secs() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_SECS
}

fn default_query_timeout_secs() -> u64 {
    DEFAULT_QUERY_TIMEOUT_SECS
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("type", &self.db_type)
            .field("host", &self.host)
            .field("port", &self.port())
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("password_file", &self.password_file)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl DatabaseConfig {
    /// An entry with defaults for everything but type, host and port.
    pub fn new(db_type: DatabaseType, host: impl Into<String>, port: u16) -> Self {
        DatabaseConfig {
            db_type,
            host: host.into(),
            port: Some(port),
            user: None,
            password: None,
            password_file: None,
            tls: TlsMode::Disabled,
            tls_ca_file: None,
            tls_accept_invalid_certs: false,
            connect_timeout_secs: DEFAULT_CONNECT_TIMEOUT_SECS,
            query_timeout_secs: DEFAULT_QUERY_TIMEOUT_SECS,
        }
    }

    /// The configured port, or the type's default port.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.db_type.default_port())
    }

    /// `type host:port`, for messages.
    pub fn endpoint(&self) -> String {
        format!("{} {}:{}", self.db_type, self.host, self.port())
    }

    /// True when this entry is the one for `db_type` at `host:port`.
    pub fn matches(&self, db_type: DatabaseType, host: &str, port: u16) -> bool {
        self.db_type == db_type
            && self.host.trim().eq_ignore_ascii_case(host.trim())
            && self.port() == port
    }

    /// Time allowed for connecting and logging in.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }

    /// Time allowed for the listing query.
    pub fn query_timeout(&self) -> Duration {
        Duration::from_secs(self.query_timeout_secs)
    }

    /// The password: inline, or read from `password_file` (trailing newline
    /// dropped). `None` when neither is set.
    pub fn resolve_password(&self) -> Result<Option<Secret>, DiscoveryError> {
        if let Some(password) = &self.password {
            return Ok(Some(password.clone()));
        }
        let Some(path) = &self.password_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            DiscoveryError::InvalidConfig(format!(
                "{}: password_file {}: {e}",
                self.endpoint(),
                path.display()
            ))
        })?;
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let line = line.strip_suffix('\r').unwrap_or(line);
        Ok(Some(Secret::new(line)))
    }

    /// Every problem with this entry, each as `databases[index].key: problem`.
    pub fn validate(&self, index: usize) -> Vec<String> {
        let at = |key: &str, problem: String| format!("databases[{index}].{key}: {problem}");
        let mut problems = Vec::new();
        if self.host.trim().is_empty() {
            problems.push(at("host", "must not be empty".into()));
        }
        if self.port == Some(0) {
            problems.push(at("port", "must be between 1 and 65535".into()));
        }
        let needs_user = self.db_type != DatabaseType::Redis;
        match &self.user {
            Some(user) if user.is_empty() => problems.push(at("user", "must not be empty".into())),
            None if needs_user => problems.push(at(
                "user",
                format!("required for type = \"{}\"", self.db_type),
            )),
            _ => {}
        }
        if self.password.is_some() && self.password_file.is_some() {
            problems.push(at(
                "password_file",
                "give either password or password_file, not both".into(),
            ));
        }
        if let Some(path) = &self.password_file {
            if let Err(e) = std::fs::File::open(path) {
                problems.push(at("password_file", format!("{}: {e}", path.display())));
            }
        }
        if let Some(path) = &self.tls_ca_file {
            if self.tls == TlsMode::Disabled {
                problems.push(at("tls_ca_file", "needs tls = \"required\"".into()));
            } else if let Err(e) = std::fs::File::open(path) {
                problems.push(at("tls_ca_file", format!("{}: {e}", path.display())));
            }
        }
        if self.tls_accept_invalid_certs && self.tls == TlsMode::Disabled {
            problems.push(at(
                "tls_accept_invalid_certs",
                "needs tls = \"required\"".into(),
            ));
        }
        if self.connect_timeout_secs == 0 {
            problems.push(at("connect_timeout_secs", "must be at least 1".into()));
        }
        if self.query_timeout_secs == 0 {
            problems.push(at("query_timeout_secs", "must be at least 1".into()));
        }
        problems
    }
}

/// Every problem with a list of entries: each entry's own problems, and two
/// entries for the same endpoint (which would make the choice ambiguous).
pub fn validate_all(entries: &[DatabaseConfig]) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        problems.extend(entry.validate(index));
        if let Some(first) = entries[..index]
            .iter()
            .position(|earlier| earlier.matches(entry.db_type, &entry.host, entry.port()))
        {
            problems.push(format!(
                "databases[{index}]: same endpoint ({}) as databases[{first}]",
                entry.endpoint()
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        databases: Vec<DatabaseConfig>,
    }

    fn parse(text: &str) -> Result<Vec<DatabaseConfig>, String> {
        toml_from_str(text).map(|f: File| f.databases)
    }

    fn toml_from_str(text: &str) -> Result<File, String> {
        config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn parses_a_full_entry_and_defaults() {
        let dbs = parse(
            r#"
            [[databases]]
            type = "mysql"
            host = "127.0.0.1"
            port = 3307
            user = "backup"
            password = "s3cret"
            tls = "required"
            tls_accept_invalid_certs = true
            connect_timeout_secs = 3

            [[databases]]
            type = "Redis"
            host = "localhost"
            "#,
        )
        .expect("parses");
        assert_eq!(dbs[0].db_type, DatabaseType::Mysql);
        assert_eq!(dbs[0].port(), 3307);
        assert_eq!(dbs[0].tls, TlsMode::Required);
        assert_eq!(dbs[0].connect_timeout(), Duration::from_secs(3));
        assert_eq!(dbs[0].query_timeout_secs, DEFAULT_QUERY_TIMEOUT_SECS);
        assert_eq!(
            dbs[0]
                .resolve_password()
                .expect("inline")
                .map(|s| s.expose().to_string()),
            Some("s3cret".to_string())
        );
        assert_eq!(dbs[1].db_type, DatabaseType::Redis);
        assert_eq!(dbs[1].port(), 6379);
        assert_eq!(dbs[1].tls, TlsMode::Disabled);
        assert!(validate_all(&dbs).is_empty(), "{:?}", validate_all(&dbs));
    }

    #[test]
    fn unknown_keys_and_types_are_refused() {
        let err = parse("[[databases]]\ntype = \"mysql\"\nhost = \"h\"\npasword = \"x\"\n")
            .expect_err("typo refused");
        assert!(err.contains("pasword"), "{err}");
        let err = parse("[[databases]]\ntype = \"oracle\"\nhost = \"h\"\n").expect_err("refused");
        assert!(err.contains("oracle"), "{err}");
    }

    #[test]
    fn api_database_type_names_parse() {
        for (name, want) in [
            ("MySQL", DatabaseType::Mysql),
            ("MSSQL", DatabaseType::Mssql),
            ("Redis", DatabaseType::Redis),
            ("mysql", DatabaseType::Mysql),
        ] {
            assert_eq!(name.parse::<DatabaseType>().expect(name), want);
        }
        let err = "MongoDB".parse::<DatabaseType>().expect_err("unsupported");
        assert_eq!(err.code(), "UnsupportedDatabaseType");
    }

    #[test]
    fn validate_reports_every_problem_with_its_key() {
        let mut bad = DatabaseConfig::new(DatabaseType::Mssql, " ", 0);
        bad.password = Some(Secret::new("x"));
        bad.password_file = Some("/nonexistent/dbs-pw".into());
        bad.tls_accept_invalid_certs = true;
        bad.query_timeout_secs = 0;
        let problems = bad.validate(2);
        for key in [
            "databases[2].host:",
            "databases[2].port:",
            "databases[2].user: required",
            "databases[2].password_file: give either",
            "databases[2].password_file: /nonexistent/dbs-pw",
            "databases[2].tls_accept_invalid_certs:",
            "databases[2].query_timeout_secs:",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(key)),
                "{key} missing in {problems:?}"
            );
        }
    }

    #[test]
    fn duplicate_endpoints_are_reported() {
        let a = DatabaseConfig::new(DatabaseType::Redis, "127.0.0.1", 6379);
        let mut b = DatabaseConfig::new(DatabaseType::Redis, "127.0.0.1", 6379);
        b.port = None;
        let problems = validate_all(&[a, b]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("databases[1]: same endpoint"));
    }

    #[test]
    fn password_file_is_read_and_its_error_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        std::fs::write(&path, "from-file\n").expect("write");
        let mut entry = DatabaseConfig::new(DatabaseType::Mysql, "h", 1);
        entry.password_file = Some(path.clone());
        let pw = entry.resolve_password().expect("read").expect("some");
        assert_eq!(pw.expose(), "from-file");

        entry.password_file = Some(dir.path().join("missing"));
        let err = entry.resolve_password().expect_err("missing file");
        assert_eq!(err.code(), "InvalidDatabaseConfig");
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn debug_hides_the_password() {
        let mut entry = DatabaseConfig::new(DatabaseType::Mysql, "h", 1);
        entry.password = Some(Secret::new("hunter2"));
        assert!(!format!("{entry:?}").contains("hunter2"));
    }
}

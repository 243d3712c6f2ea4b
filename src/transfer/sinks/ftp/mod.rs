//! The `ftp` target: an FTP or FTPS server, through suppaftp (tokio, rustls).
//!
//! A set at `dir/name` is stored as its partial `{root}/dir/.dbs-part.name`
//! (`RelPath::partial`, a name no set can take) on the server and renamed
//! to `{root}/dir/name` on commit, after `SIZE` says the partial holds exactly
//! the announced number of bytes. Missing directories are created with `MKD`.
//!
//! Resume: `open` asks `SIZE` of the partial (until it stops growing: the
//! server may still be draining a dead attempt's data connection) and
//! continues it with `APPE`;
//! `read_back` fetches the partial with `RETR` so the pipeline can hash it.
//! A server that does not answer `SIZE` gets the partial deleted and the file
//! restarted from zero. Connecting (control connection and login) is retried
//! with exponential backoff and jitter; a control or data connection that
//! drops while writing fails the write with a retryable error, and the
//! pipeline's next `open` resumes from what the server holds.
//!
//! This module owns `[targets.ftp]` ([`FtpConfig`]); it knows nothing of
//! tasks, URLs or checksums.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use suppaftp::tokio::{
    AsyncRustlsConnector, AsyncRustlsFtpStream, AsyncRustlsStream, TransferStream,
};
use suppaftp::types::FileType;
use suppaftp::{FtpError, Mode, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};

use super::credentials::{load_ca_file, resolve_secret};
use super::{BuildError, ByteStream, SinkConfig, SinkError, SinkWriter, Target};
use crate::api::layout::RelPath;
use crate::secret::Secret;

const KIND: &str = "ftp";
/// Buffer in front of the data connection: small chunks are gathered into
/// sends of this size; larger ones (the HTTP client hands over up to about
/// 400 KiB) go to the socket as they are, without a copy.
const WRITE_BUFFER: usize = 64 * 1024;
/// Chunk size used to read a partial back for hashing.
const READ_BACK_CHUNK: usize = 256 * 1024;

/// How the control (and data) connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FtpTls {
    /// Plain FTP.
    #[default]
    None,
    /// FTPS with `AUTH TLS` on the normal port (RFC 4217); data is protected too.
    Explicit,
    /// FTPS with TLS from the first byte (usually port 990).
    Implicit,
}

/// `[targets.ftp]` in gateway.toml.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FtpConfig {
    /// Server host name or address.
    pub host: String,
    /// Server port; default 21 (990 with `tls = "implicit"`).
    #[serde(default)]
    pub port: Option<u16>,
    /// Login user.
    pub user: String,
    /// Login password (or use `password_file`).
    #[serde(default)]
    pub password: Option<Secret>,
    /// A file whose first line is the password (mode 0600 recommended).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Directory on the server under which the layout starts; relative paths
    /// are relative to the login directory. Default: the login directory.
    #[serde(default)]
    pub root: String,
    /// `none`, `explicit` or `implicit`.
    #[serde(default)]
    pub tls: FtpTls,
    /// PEM file with the CA that signed the server's certificate; default:
    /// the public web roots.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// Passive mode (the client opens data connections); default true.
    #[serde(default = "default_true")]
    pub passive: bool,
    /// Connection attempts before a connect error is reported; default 5.
    #[serde(default = "default_connect_attempts")]
    pub connect_attempts: u32,
}

fn default_true() -> bool {
    true
}

fn default_connect_attempts() -> u32 {
    5
}

// Written by hand so the user name and secrets never reach a log.
impl fmt::Debug for FtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("root", &self.root)
            .field("tls", &self.tls)
            .field("passive", &self.passive)
            .finish_non_exhaustive()
    }
}

impl FtpConfig {
    /// A plain-FTP config with a password, for the CLI and tests.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        password: Secret,
    ) -> Self {
        FtpConfig {
            host: host.into(),
            port: Some(port),
            user: user.into(),
            password: Some(password),
            password_file: None,
            root: String::new(),
            tls: FtpTls::None,
            tls_ca_file: None,
            passive: true,
            connect_attempts: default_connect_attempts(),
        }
    }

    /// The port to connect to.
    pub fn effective_port(&self) -> u16 {
        match (self.port, self.tls) {
            (Some(p), _) => p,
            (None, FtpTls::Implicit) => 990,
            (None, _) => 21,
        }
    }
}

/// An FTP server target.
#[derive(Clone)]
pub struct FtpTarget {
    inner: Arc<Inner>,
}

struct Inner {
    host: String,
    port: u16,
    user: String,
    password: Secret,
    root: String,
    tls: FtpTls,
    tls_config: Option<Arc<rustls::ClientConfig>>,
    passive: bool,
    connect_attempts: u32,
}

type Conn = AsyncRustlsFtpStream;

impl fmt::Debug for FtpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpTarget")
            .field("host", &self.inner.host)
            .field("port", &self.inner.port)
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

impl SinkConfig for FtpConfig {
    type Target = FtpTarget;

    /// Reads `password_file` and the CA.
    fn build(&self) -> Result<FtpTarget, BuildError> {
        let config = self;
        let password = resolve_secret(
            "targets.ftp.password",
            config.password.as_ref(),
            config.password_file.as_deref(),
        )?;
        let tls_config = match config.tls {
            FtpTls::None => None,
            FtpTls::Explicit | FtpTls::Implicit => {
                let roots = load_ca_file("targets.ftp.tls_ca_file", config.tls_ca_file.as_deref())?;
                Some(Arc::new(
                    rustls::ClientConfig::builder_with_provider(Arc::new(
                        rustls::crypto::ring::default_provider(),
                    ))
                    .with_safe_default_protocol_versions()
                    .map_err(|e| BuildError::Invalid {
                        key: "targets.ftp.tls",
                        reason: e.to_string(),
                    })?
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
                ))
            }
        };
        Ok(FtpTarget {
            inner: Arc::new(Inner {
                host: config.host.clone(),
                port: config.effective_port(),
                user: config.user.clone(),
                password,
                root: normalize_root(&config.root),
                tls: config.tls,
                tls_config,
                passive: config.passive,
                connect_attempts: config.connect_attempts.max(1),
            }),
        })
    }
}

impl FtpConfig {
    /// The config for a `--to ftp:[ROOT]` spec: this server and
    /// credentials, with a non-empty ROOT in place of `root`.
    pub fn for_spec(&self, spec: &str) -> FtpConfig {
        let rest = spec.strip_prefix("ftp:").unwrap_or(spec);
        let mut config = self.clone();
        if !rest.is_empty() {
            config.root = rest.to_owned();
        }
        config
    }
}

/// `""` → `""` (login dir), `"/a/b/"` → `"/a/b"`, `"a/"` → `"a"`.
fn normalize_root(root: &str) -> String {
    let trimmed = root.trim_end_matches('/');
    if trimmed.is_empty() && root.starts_with('/') {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    }
}

impl Inner {
    fn location(&self) -> String {
        format!("ftp://{}:{}", self.host, self.port)
    }

    /// The server path of `rel` under the root.
    fn remote(&self, rel: &str) -> String {
        match self.root.as_str() {
            "" => rel.to_owned(),
            "/" => format!("/{rel}"),
            root => format!("{root}/{rel}"),
        }
    }

    fn err(&self, path: &str, e: FtpError) -> SinkError {
        map_ftp_error(&format!("{}{}", self.location(), display_path(path)), e)
    }

    /// Opens a logged-in control connection, retrying transient failures
    /// with exponential backoff and jitter. A refused login is not retried.
    async fn connect(&self) -> Result<Conn, SinkError> {
        let mut delay = Duration::from_millis(250);
        let mut attempt = 1;
        loop {
            match self.connect_once().await {
                Ok(conn) => return Ok(conn),
                Err(e) if e.is_retryable() && attempt < self.connect_attempts => {
                    tracing::warn!(target_kind = KIND, attempt, error = %e, "ftp connect failed, retrying");
                    let jitter = rand::random_range(0..=delay.as_millis() as u64 / 2);
                    tokio::time::sleep(delay + Duration::from_millis(jitter)).await;
                    delay = (delay * 2).min(Duration::from_secs(8));
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn connect_once(&self) -> Result<Conn, SinkError> {
        let addr = (self.host.as_str(), self.port);
        let mut conn = match (self.tls, &self.tls_config) {
            (FtpTls::Implicit, Some(cfg)) => {
                Conn::connect_secure_implicit(addr, self.connector(cfg), &self.host)
                    .await
                    .map_err(|e| self.err("", e))?
            }
            (FtpTls::Explicit, Some(cfg)) => {
                let plain = Conn::connect(addr).await.map_err(|e| self.err("", e))?;
                plain
                    .into_secure(self.connector(cfg), &self.host)
                    .await
                    .map_err(|e| self.err("", e))?
            }
            _ => Conn::connect(addr).await.map_err(|e| self.err("", e))?,
        };
        if self.passive {
            // Use the control connection's address for data, whatever address
            // the server announces (servers behind NAT announce a private one).
            conn.set_passive_nat_workaround(true);
        } else {
            conn = conn.active_mode(Duration::from_secs(30));
            conn.set_mode(Mode::Active);
        }
        conn.login(self.user.as_str(), self.password.expose())
            .await
            .map_err(|e| match e {
                FtpError::UnexpectedResponse(r) if r.status == Status::NotLoggedIn => {
                    SinkError::Denied {
                        target: KIND,
                        location: self.location(),
                        message: format!("login as {} refused", self.user),
                    }
                }
                e => self.err("", e),
            })?;
        conn.transfer_type(FileType::Binary)
            .await
            .map_err(|e| self.err("", e))?;
        Ok(conn)
    }

    fn connector(&self, cfg: &Arc<rustls::ClientConfig>) -> AsyncRustlsConnector {
        AsyncRustlsConnector::from(tokio_rustls::TlsConnector::from(cfg.clone()))
    }

    /// `MKD` every missing directory of `dirs` (server paths, parents first).
    async fn make_dirs(&self, conn: &mut Conn, rel_dirs: &[String]) -> Result<(), SinkError> {
        let mut path = String::new();
        let mut all = Vec::new();
        if !self.root.is_empty() && self.root != "/" {
            // The root itself may be missing too.
            for c in self.root.split('/') {
                if c.is_empty() {
                    path.push('/');
                    continue;
                }
                if !path.is_empty() && !path.ends_with('/') {
                    path.push('/');
                }
                path.push_str(c);
                all.push(path.clone());
            }
        }
        let mut rel = String::new();
        for c in rel_dirs {
            if !rel.is_empty() {
                rel.push('/');
            }
            rel.push_str(c);
            all.push(self.remote(&rel));
        }
        for dir in all {
            match conn.mkdir(&dir).await {
                Ok(()) => {}
                // Exists already (or cannot be made: the upload then fails
                // with the server's own message).
                Err(FtpError::UnexpectedResponse(_)) => {}
                Err(e) => return Err(self.err(&dir, e)),
            }
        }
        Ok(())
    }
}

fn display_path(path: &str) -> String {
    match path {
        "" => String::new(),
        p if p.starts_with('/') => p.to_owned(),
        p => format!("/~/{p}"),
    }
}

/// Maps a suppaftp error: connection trouble and 4xx replies are worth
/// another attempt, 5xx replies and TLS failures need an operator.
fn map_ftp_error(location: &str, e: FtpError) -> SinkError {
    let retryable = match &e {
        FtpError::ConnectionError(_)
        | FtpError::BadResponse
        | FtpError::DataConnectionAlreadyOpen => true,
        FtpError::UnexpectedResponse(r) => (400..500).contains(&r.status.code()),
        _ => false,
    };
    let message = match &e {
        FtpError::UnexpectedResponse(r) => format!(
            "server replied {} {}",
            r.status.code(),
            String::from_utf8_lossy(&r.body).trim()
        ),
        e => e.to_string(),
    };
    if let FtpError::UnexpectedResponse(r) = &e {
        if r.status == Status::NotLoggedIn {
            return SinkError::Denied {
                target: KIND,
                location: location.to_owned(),
                message,
            };
        }
        // 452 (insufficient storage) and 552 (storage allocation
        // exceeded): the server is full, which no retry mends.
        if matches!(r.status.code(), 452 | 552) {
            return SinkError::NoSpace {
                target: KIND,
                location: location.to_owned(),
                needed: 0,
                available: 0,
            };
        }
    }
    SinkError::Remote {
        target: KIND,
        location: location.to_owned(),
        message,
        retryable,
    }
}

/// True when the reply says the file does not exist (550).
fn is_missing(e: &FtpError) -> bool {
    matches!(e, FtpError::UnexpectedResponse(r) if r.status == Status::FileUnavailable)
}

/// True when the server does not know the command (500, 502, 504).
fn is_unsupported(e: &FtpError) -> bool {
    matches!(e, FtpError::UnexpectedResponse(r) if matches!(r.status.code(), 500 | 502 | 504))
}

#[async_trait]
impl Target for FtpTarget {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn describe(&self, path: &RelPath) -> String {
        let remote = self.inner.remote(&path.as_slash_path());
        format!("{}{}", self.inner.location(), display_path(&remote))
    }

    async fn check(&self) -> Result<(), SinkError> {
        let inner = &self.inner;
        let mut conn = inner.connect().await?;
        inner.make_dirs(&mut conn, &[]).await?;
        if !inner.root.is_empty() {
            conn.cwd(&inner.root)
                .await
                .map_err(|e| SinkError::Unusable {
                    target: KIND,
                    location: format!("{}{}", inner.location(), display_path(&inner.root)),
                    reason: map_ftp_error("", e).to_string(),
                })?;
        }
        let _ = conn.quit().await;
        Ok(())
    }

    async fn free_space(&self) -> Result<Option<u64>, SinkError> {
        Ok(None)
    }

    async fn open(
        &self,
        path: &RelPath,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn SinkWriter>, SinkError> {
        let inner = self.inner.clone();
        let final_path = inner.remote(&path.as_slash_path());
        let part_path = inner.remote(&path.partial().as_slash_path());
        let mut conn = inner.connect().await?;
        inner.make_dirs(&mut conn, path.parent_components()).await?;
        let offset = match settled_size(&mut conn, &part_path).await {
            Ok(n) if expected_size.map_or(true, |expected| n <= expected) => n,
            Ok(_) => {
                remove(&inner, &mut conn, &part_path).await?;
                0
            }
            Err(e) if is_missing(&e) => 0,
            Err(e) if is_unsupported(&e) => {
                // No SIZE: we cannot know what the partial holds; restart it.
                remove(&inner, &mut conn, &part_path).await?;
                0
            }
            Err(e) => return Err(inner.err(&part_path, e)),
        };
        Ok(Box::new(FtpWriter {
            inner,
            conn: Some(conn),
            data: None,
            final_path,
            part_path,
            offset,
            expected_size,
        }))
    }
}

/// `SIZE` of a partial once it stops growing: after a crash the server may
/// still be draining the old data connection into it, and appending before
/// that ends would interleave the two. Asks up to five times, 300 ms apart.
async fn settled_size(conn: &mut Conn, path: &str) -> Result<u64, FtpError> {
    let mut last = conn.size(path).await? as u64;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = conn.size(path).await? as u64;
        if now == last {
            break;
        }
        last = now;
    }
    Ok(last)
}

/// `DELE path`, where a missing file is fine.
async fn remove(inner: &Inner, conn: &mut Conn, path: &str) -> Result<(), SinkError> {
    match conn.rm(path).await {
        Ok(()) => Ok(()),
        Err(e) if is_missing(&e) => Ok(()),
        Err(e) => Err(inner.err(path, e)),
    }
}

type DataStream = TransferStream<AsyncRustlsStream>;

/// Writes one partial on the server and renames it on commit.
struct FtpWriter {
    inner: Arc<Inner>,
    /// The control connection; `None` after a failure (reconnect on demand).
    conn: Option<Conn>,
    /// The open `STOR`/`APPE` data connection, while writing.
    data: Option<BufWriter<DataStream>>,
    final_path: String,
    part_path: String,
    offset: u64,
    expected_size: Option<u64>,
}

impl FtpWriter {
    async fn conn(&mut self) -> Result<&mut Conn, SinkError> {
        if self.conn.is_none() {
            self.conn = Some(self.inner.connect().await?);
        }
        // Just set above when it was missing.
        self.conn.as_mut().ok_or_else(|| SinkError::Remote {
            target: KIND,
            location: self.inner.location(),
            message: "no control connection".to_owned(),
            retryable: true,
        })
    }

    fn err(&self, e: FtpError) -> SinkError {
        self.inner.err(&self.part_path, e)
    }

    /// Forgets both connections after a failure, so the next call starts clean.
    fn reset(&mut self) {
        self.data = None;
        self.conn = None;
    }

    /// Starts `STOR` (offset 0) or `APPE` (resume) on the partial.
    async fn start_data(&mut self) -> Result<(), SinkError> {
        let part = self.part_path.clone();
        let append = self.offset > 0;
        let conn = self.conn().await?;
        let started = if append {
            conn.append_with_stream(&part).await
        } else {
            conn.put_with_stream(&part).await
        };
        match started {
            Ok(stream) => {
                self.data = Some(BufWriter::with_capacity(WRITE_BUFFER, stream));
                Ok(())
            }
            Err(e) if append && is_unsupported(&e) => {
                // No APPE: drop the partial; the retry starts from zero.
                let inner = self.inner.clone();
                remove(&inner, self.conn().await?, &part).await?;
                Err(SinkError::Remote {
                    target: KIND,
                    location: self.inner.location(),
                    message: "server refused APPE; partial removed, restarting".to_owned(),
                    retryable: true,
                })
            }
            Err(e) => {
                let err = self.err(e);
                self.reset();
                Err(err)
            }
        }
    }

    /// Ends the running transfer and waits for the server's `226`.
    async fn finish_data(&mut self) -> Result<(), SinkError> {
        let Some(mut data) = self.data.take() else {
            return Ok(());
        };
        if let Err(e) = data.flush().await {
            self.reset();
            return Err(self.err(FtpError::ConnectionError(e)));
        }
        if let Err(e) = data.into_inner().finish().await {
            let err = self.err(e);
            self.reset();
            return Err(err);
        }
        Ok(())
    }
}

#[async_trait]
impl SinkWriter for FtpWriter {
    fn offset(&self) -> u64 {
        self.offset
    }

    async fn read_back(&mut self) -> Result<Option<ByteStream>, SinkError> {
        if self.offset == 0 {
            return Ok(Some(futures::stream::empty().boxed()));
        }
        // A second connection: the writer's own one stays free for APPE.
        let inner = self.inner.clone();
        let mut conn = inner.connect().await?;
        let data = conn
            .retr_as_stream(&self.part_path)
            .await
            .map_err(|e| inner.err(&self.part_path, e))?;
        let state = ReadBack {
            inner,
            path: self.part_path.clone(),
            conn,
            data: Some(data),
            remaining: self.offset,
        };
        Ok(Some(futures::stream::unfold(state, ReadBack::next).boxed()))
    }

    async fn restart(&mut self) -> Result<(), SinkError> {
        self.finish_data().await?;
        let inner = self.inner.clone();
        let part = self.part_path.clone();
        remove(&inner, self.conn().await?, &part).await?;
        self.offset = 0;
        Ok(())
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), SinkError> {
        if self.data.is_none() {
            self.start_data().await?;
        }
        let Some(data) = self.data.as_mut() else {
            return Ok(());
        };
        if let Err(e) = data.write_all(&chunk).await {
            self.reset();
            return Err(self.err(FtpError::ConnectionError(e)));
        }
        self.offset += chunk.len() as u64;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), SinkError> {
        if self.data.is_none() && self.offset == 0 {
            // An empty set still needs its (empty) partial.
            self.start_data().await?;
        }
        self.finish_data().await?;
        let (inner, part, fin, expected) = (
            self.inner.clone(),
            self.part_path.clone(),
            self.final_path.clone(),
            // A stream must have stored every byte sent.
            self.expected_size.unwrap_or(self.offset),
        );
        let conn = self.conn().await?;
        let stored = conn.size(&part).await.map_err(|e| inner.err(&part, e))? as u64;
        if stored != expected {
            remove(&inner, conn, &part).await?;
            return Err(SinkError::SizeMismatch {
                location: format!("{}{}", inner.location(), display_path(&fin)),
                expected,
                actual: stored,
            });
        }
        if let Err(first) = conn.rename(&part, &fin).await {
            // Some servers refuse to rename over an existing file.
            remove(&inner, conn, &fin).await?;
            conn.rename(&part, &fin).await.map_err(|e| {
                tracing::debug!(error = %first, "first rename failed");
                inner.err(&fin, e)
            })?;
        }
        let _ = conn.quit().await;
        Ok(())
    }

    async fn abort(mut self: Box<Self>, keep_partial: bool) -> Result<(), SinkError> {
        // Close the transfer cleanly so the server keeps every byte it got;
        // when that fails the partial is whatever reached the server.
        let finished = self.finish_data().await;
        if keep_partial {
            if let Some(conn) = self.conn.as_mut() {
                let _ = conn.quit().await;
            }
            return finished;
        }
        let inner = self.inner.clone();
        let part = self.part_path.clone();
        remove(&inner, self.conn().await?, &part).await
    }
}

/// State of a `RETR` of the partial, read as a stream of chunks.
struct ReadBack {
    inner: Arc<Inner>,
    path: String,
    conn: Conn,
    data: Option<DataStream>,
    remaining: u64,
}

impl ReadBack {
    async fn next(mut self) -> Option<(Result<Bytes, SinkError>, Self)> {
        let data = self.data.as_mut()?;
        if self.remaining == 0 {
            // Only the first `offset` bytes count; close the transfer.
            let data = self.data.take()?;
            let _ = data.finish().await;
            let _ = self.conn.quit().await;
            return None;
        }
        let want = READ_BACK_CHUNK.min(self.remaining as usize);
        let mut buf = vec![0u8; want];
        match data.read(&mut buf).await {
            Ok(0) => {
                self.data = None;
                let err = SinkError::Remote {
                    target: KIND,
                    location: format!("{}{}", self.inner.location(), display_path(&self.path)),
                    message: format!("partial ended {} bytes early", self.remaining),
                    retryable: true,
                };
                Some((Err(err), self))
            }
            Ok(n) => {
                buf.truncate(n);
                self.remaining -= n as u64;
                Some((Ok(Bytes::from(buf)), self))
            }
            Err(e) => {
                self.data = None;
                let err = self.inner.err(&self.path, FtpError::ConnectionError(e));
                Some((Err(err), self))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_normalized() {
        assert_eq!(normalize_root(""), "");
        assert_eq!(normalize_root("/"), "/");
        assert_eq!(normalize_root("/srv/ftp/"), "/srv/ftp");
        assert_eq!(normalize_root("backups/"), "backups");
    }

    #[test]
    fn config_parses_and_hides_secrets() {
        let cfg: FtpConfig = toml::from_str(
            r#"host = "ftp.example"
               user = "backup"
               password = "hunter2"
               root = "/dbs"
               tls = "explicit""#,
        )
        .expect("valid config");
        assert_eq!(cfg.effective_port(), 21);
        assert!(cfg.passive);
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("backup"),
            "{shown}"
        );
        let bad = toml::from_str::<FtpConfig>("host = \"h\"\nuser = \"u\"\npasword = \"x\"");
        assert!(bad.is_err(), "unknown keys are refused");
    }

    #[test]
    fn spec_replaces_root() {
        let cfg = FtpConfig::new("127.0.0.1", 2121, "u", Secret::new("p"));
        let t = cfg.for_spec("ftp:/incoming").build().expect("target");
        assert_eq!(t.inner.remote("a/b"), "/incoming/a/b");
        let t = cfg.for_spec("ftp:").build().expect("target");
        assert_eq!(t.inner.remote("a/b"), "a/b");
    }

    #[test]
    fn login_refusal_is_denied_not_retryable() {
        let e = map_ftp_error(
            "ftp://h:21",
            FtpError::UnexpectedResponse(suppaftp::types::Response::new(
                Status::NotLoggedIn,
                b"530 Authentication failed.".to_vec(),
            )),
        );
        assert_eq!(e.code(), "Target.AccessDenied");
        assert!(!e.is_retryable());
    }

    #[test]
    fn a_full_server_is_no_space_not_retryable() {
        for (status, text) in [
            (Status::RequestedActionNotTaken, "452 Not enough space"),
            (Status::ExceededStorage, "552 Quota exceeded"),
        ] {
            let e = map_ftp_error(
                "ftp://h:21",
                FtpError::UnexpectedResponse(suppaftp::types::Response::new(
                    status,
                    text.as_bytes().to_vec(),
                )),
            );
            assert_eq!(e.code(), "Target.NoSpace", "{text}");
            assert!(!e.is_retryable());
        }
    }
}

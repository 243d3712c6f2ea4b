//! MySQL / MariaDB physical backups: `mariadb-backup --backup
//! --stream=xbstream` (MariaDB's fork of XtraBackup) run on this host, its
//! output streamed as it comes, never kept whole on disk.
//!
//! - The tool is looked for on `PATH` (`mariadb-backup`, then the older name
//!   `mariabackup`); its major.minor version must equal the server's, as
//!   MariaDB requires.
//! - The password goes in a `--defaults-extra-file` of mode 0600 inside a
//!   private work directory (never on the command line, where `ps` shows it),
//!   removed when the backup ends, or by the next backup if the agent was
//!   killed. (The tool reads only regular files there, not a pipe.)
//! - The tool reads the server's data directory: the agent's user needs read
//!   access to it, as `mariadb-backup` run by hand does.
//! - The tool's stderr goes to the log line by line; its last lines name the
//!   failure when it exits with an error.
//!
//! A set is restored with `mbstream -x`, `mariadb-backup --prepare`, and a
//! server started on the prepared directory.

use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use mysql_async::prelude::Queryable;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::BackupError;
use crate::discovery::mysql::connect;
use crate::discovery::{Login, TlsMode};

/// Names the tool is found by, in order.
pub const TOOL_NAMES: [&str; 2] = ["mariadb-backup", "mariabackup"];

/// Bytes read from the tool's stdout per chunk.
const CHUNK_BYTES: usize = 1024 * 1024;

/// Most files the tool copies at once (`--parallel`): with one, it reads a
/// piece of a file and then waits to write it to the pipe; with two or more,
/// one thread reads while another writes.
const MAX_PARALLEL_COPIES: usize = 4;

/// Name prefix of the scratch dirs in the work dir.
const SCRATCH_PREFIX: &str = "physical-backup.";

/// Lines of the tool's stderr kept for the error message.
const KEPT_STDERR_LINES: usize = 5;

/// Longest piece of a stderr line read at once (and logged as one line).
const MAX_STDERR_LINE_BYTES: usize = 8 * 1024;

/// Characters kept of each of those lines: the error stays short whatever
/// the tool prints.
const KEPT_STDERR_CHARS: usize = 300;

/// Files copied at once: one per core, from 2 to [`MAX_PARALLEL_COPIES`].
fn parallel_copies() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, MAX_PARALLEL_COPIES)
}

/// The backup tool found on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// Its path.
    pub path: PathBuf,
    /// The server version it was built from, such as `10.11.19`.
    pub version: String,
}

/// Finds the backup tool on `PATH` and reads its version.
pub async fn find_tool() -> Result<Tool, BackupError> {
    find_tool_in(&std::env::var_os("PATH").unwrap_or_default()).await
}

/// Finds the backup tool in the directories of `path` (`PATH`'s syntax).
pub async fn find_tool_in(path: &std::ffi::OsStr) -> Result<Tool, BackupError> {
    let found = TOOL_NAMES.iter().find_map(|name| {
        std::env::split_paths(path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    let path = found.ok_or_else(|| BackupError::ToolMissing {
        names: TOOL_NAMES.join(" or "),
    })?;
    let out = Command::new(&path)
        .arg("--version")
        .output()
        .await
        .map_err(|e| BackupError::ToolFailed {
            tool: path.display().to_string(),
            detail: format!("cannot run --version: {e}"),
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let version = version_in(&text).ok_or_else(|| BackupError::ToolFailed {
        tool: path.display().to_string(),
        detail: format!("no version in {:?}", text.trim()),
    })?;
    Ok(Tool { path, version })
}

/// The first `N.N.N` of `text`.
fn version_in(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|w| w.split('.').filter(|p| !p.is_empty()).count() >= 3)
        .map(|w| w.trim_matches('.').to_string())
}

/// Whether `VERSION()` is a MariaDB server's (`10.11.19-MariaDB-log`);
/// MySQL's is a bare number (`8.0.36`).
fn is_mariadb(version: &str) -> bool {
    version.to_ascii_lowercase().contains("mariadb")
}

/// `major.minor` of a version.
fn major_minor(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// The server's version, checked against the tool's.
pub async fn check_versions(login: &Login, tool: &Tool) -> Result<String, BackupError> {
    let mut conn = connect(login).await?;
    let server: Option<String> =
        conn.query_first("SELECT VERSION()")
            .await
            .map_err(|e| BackupError::Query {
                endpoint: login.endpoint(),
                what: "SELECT VERSION()".into(),
                detail: e.to_string(),
            })?;
    if let Err(e) = conn.disconnect().await {
        tracing::debug!(error = %e, "mysql disconnect");
    }
    let banner = server.unwrap_or_default();
    if !is_mariadb(&banner) {
        return Err(BackupError::ServerNotMariaDb {
            endpoint: login.endpoint(),
            server_version: banner,
        });
    }
    let server = version_in(&banner).unwrap_or_default();
    if major_minor(&server) != major_minor(&tool.version) {
        return Err(BackupError::ToolVersion {
            tool: tool.path.display().to_string(),
            tool_version: tool.version.clone(),
            server_version: server,
        });
    }
    Ok(server)
}

/// Runs a physical backup of the server of `login` and sends the xbstream
/// to `out` in chunks. `work_dir` holds a private directory for the tool's
/// credentials and scratch files while it runs.
pub async fn backup(
    login: &Login,
    tool: &Tool,
    work_dir: &Path,
    out: mpsc::Sender<Bytes>,
) -> Result<u64, BackupError> {
    check_versions(login, tool).await?;
    let scratch = Scratch::new(work_dir, login)?;
    let tool_name = tool.path.display().to_string();
    let mut child = Command::new(&tool.path)
        .arg(format!(
            "--defaults-extra-file={}",
            scratch.defaults.display()
        ))
        .args([
            "--backup",
            "--stream=xbstream",
            &format!("--target-dir={}", scratch.target.display()),
            &format!("--host={}", login.host),
            &format!("--port={}", login.port),
            "--protocol=TCP",
            &format!("--parallel={}", parallel_copies()),
        ])
        .args(login.user.as_ref().map(|u| format!("--user={u}")))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BackupError::ToolFailed {
            tool: tool_name.clone(),
            detail: format!("cannot start: {e}"),
        })?;
    let stderr = child.stderr.take().expect("piped stderr");
    let log = tokio::spawn(log_stderr(stderr));
    let mut stdout = child.stdout.take().expect("piped stdout");
    // A 64 KiB pipe wakes the reader for every 64 KiB the tool writes; a
    // larger one lets both sides move bigger pieces (Linux caps it at
    // /proc/sys/fs/pipe-max-size, 1 MiB by default).
    if let Err(e) = rustix::pipe::fcntl_setpipe_size(&stdout, CHUNK_BYTES) {
        tracing::debug!(error = %e, "pipe size not raised");
    }
    let mut sent = 0u64;
    loop {
        let mut chunk = BytesMut::with_capacity(CHUNK_BYTES);
        while chunk.len() < CHUNK_BYTES {
            let n = stdout
                .read_buf(&mut chunk)
                .await
                .map_err(|e| BackupError::ToolFailed {
                    tool: tool_name.clone(),
                    detail: format!("reading its output: {e}"),
                })?;
            if n == 0 {
                break;
            }
        }
        if chunk.is_empty() {
            break;
        }
        sent += chunk.len() as u64;
        // Dropping the child on this error kills the tool.
        out.send(chunk.freeze())
            .await
            .map_err(|_| BackupError::Cancelled)?;
    }
    let status = child.wait().await.map_err(|e| BackupError::ToolFailed {
        tool: tool_name.clone(),
        detail: e.to_string(),
    })?;
    let last_lines = log.await.unwrap_or_default();
    if !status.success() {
        return Err(BackupError::ToolFailed {
            tool: tool_name,
            detail: format!("{status}: {}", last_lines.join(" | ")),
        });
    }
    Ok(sent)
}

/// Logs each stderr line of the tool; the last few, for an error message.
/// A line longer than [`MAX_STDERR_LINE_BYTES`] is logged in pieces, so
/// memory stays bounded whatever the tool prints.
async fn log_stderr(stderr: impl tokio::io::AsyncRead + Unpin) -> Vec<String> {
    let mut reader = BufReader::new(stderr);
    let mut piece = Vec::with_capacity(MAX_STDERR_LINE_BYTES);
    let mut last = VecDeque::with_capacity(KEPT_STDERR_LINES);
    loop {
        piece.clear();
        let mut limited = (&mut reader).take(MAX_STDERR_LINE_BYTES as u64);
        match limited.read_until(b'\n', &mut piece).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&piece);
        let line = line.trim_end_matches(['\n', '\r']);
        tracing::info!(target: "dbs_gateway::backup::tool", "{line}");
        keep_line(&mut last, line);
    }
    last.into()
}

/// Keeps `line`, cut to [`KEPT_STDERR_CHARS`], among the last
/// [`KEPT_STDERR_LINES`].
fn keep_line(last: &mut VecDeque<String>, line: &str) {
    if last.len() == KEPT_STDERR_LINES {
        last.pop_front();
    }
    last.push_back(line.chars().take(KEPT_STDERR_CHARS).collect());
}

/// The tool's private directory: its credentials file and its target dir,
/// removed on drop.
struct Scratch {
    dir: PathBuf,
    defaults: PathBuf,
    target: PathBuf,
}

impl Scratch {
    fn new(work_dir: &Path, login: &Login) -> Result<Scratch, BackupError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        // The state dir may not exist yet (a one-shot command before the
        // agent ever ran); what is created is private.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(work_dir)
            .map_err(|e| BackupError::WorkDir {
                path: work_dir.display().to_string(),
                detail: format!("create: {e}"),
            })?;
        sweep_leftovers(work_dir);
        let dir = work_dir.join(format!(
            "{SCRATCH_PREFIX}{}.{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        Scratch::create(dir, login)
    }

    /// Makes `dir` (which must not exist: never a directory or a symbolic
    /// link someone else put there) and writes the credentials file in it.
    fn create(dir: PathBuf, login: &Login) -> Result<Scratch, BackupError> {
        let shown = dir.display().to_string();
        let io = |what: &str, e: std::io::Error| BackupError::WorkDir {
            path: shown.clone(),
            detail: format!("{what}: {e}"),
        };
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| io("create", e))?;
        let scratch = Scratch {
            defaults: dir.join("client.cnf"),
            target: dir.join("target"),
            dir,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&scratch.defaults)
            .map_err(|e| io("write the credentials file", e))?;
        let mut cnf = String::from("[client]\n");
        if let Some(password) = &login.password {
            cnf.push_str(&format!(
                "password=\"{}\"\n",
                escape_option(password.expose())
            ));
        }
        if login.tls == TlsMode::Required {
            cnf.push_str("ssl\n");
            if let Some(ca) = &login.tls_ca_file {
                cnf.push_str(&format!(
                    "ssl-ca=\"{}\"\n",
                    escape_option(&ca.display().to_string())
                ));
            }
        }
        file.write_all(cnf.as_bytes())
            .map_err(|e| io("write the credentials file", e))?;
        Ok(scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(path = %self.dir.display(), error = %e, "backup scratch dir not removed");
        }
    }
}

/// Removes scratch dirs an earlier agent process left when it was killed:
/// they may hold a password.
fn sweep_leftovers(work_dir: &Path) {
    let ours = format!("{SCRATCH_PREFIX}{}.", std::process::id());
    let Ok(entries) = std::fs::read_dir(work_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(SCRATCH_PREFIX) && !name.starts_with(&ours) {
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %e, "old backup scratch dir not removed");
            }
        }
    }
}

/// A value for a double-quoted option file entry.
fn escape_option(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn versions_are_read_from_the_tools_banner() {
        assert_eq!(
            version_in(
                "mariadb-backup based on MariaDB server 10.11.19-MariaDB debian-linux-gnu (x86_64)"
            ),
            Some("10.11.19".into())
        );
        assert_eq!(version_in("11.4.2-MariaDB-log"), Some("11.4.2".into()));
        assert_eq!(version_in("no version"), None);
    }

    #[test]
    fn only_mariadb_servers_are_backed_up_with_mariadb_backup() {
        assert!(is_mariadb("10.11.19-MariaDB-log"));
        assert!(is_mariadb("11.4.2-MariaDB-ubu2404"));
        assert!(!is_mariadb("8.0.36"));
        assert!(!is_mariadb("8.4.3-commercial"));
        assert!(!is_mariadb(""));
        assert_eq!(major_minor("10.11.19"), "10.11");
    }

    #[test]
    fn a_scratch_dir_is_never_one_that_exists_already() {
        let work = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let planted = work.path().join("physical-backup.1.0");
        std::os::unix::fs::symlink(elsewhere.path(), &planted).unwrap();
        let login = Login {
            db_type: crate::discovery::DatabaseType::Mysql,
            host: "127.0.0.1".into(),
            port: 3306,
            user: Some("backup".into()),
            password: Some(crate::secret::Secret::new("pw")),
            tls: TlsMode::Disabled,
            tls_ca_file: None,
            tls_accept_invalid_certs: false,
            connect_timeout: std::time::Duration::from_secs(1),
            query_timeout: std::time::Duration::from_secs(1),
        };
        let err = Scratch::create(planted, &login).err().expect("refused");
        assert_eq!(err.code(), "Backup.WorkDir");
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
        let made = Scratch::create(work.path().join("fresh"), &login).expect("made");
        let mode = std::fs::metadata(&made.dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn the_tools_last_lines_are_bounded() {
        let mut last = VecDeque::new();
        for i in 0..20 {
            keep_line(&mut last, &format!("{i}{}", "é".repeat(1000)));
        }
        assert_eq!(last.len(), KEPT_STDERR_LINES);
        assert!(last[0].starts_with("15"));
        assert!(last.iter().all(|l| l.chars().count() == KEPT_STDERR_CHARS));
    }

    #[tokio::test]
    async fn an_endless_stderr_line_is_read_in_bounded_pieces() {
        let endless = vec![b'x'; MAX_STDERR_LINE_BYTES * 3 + 10];
        let mut text = endless.clone();
        text.extend_from_slice(b"\nlast words\n");
        let last = log_stderr(&text[..]).await;
        assert_eq!(last.len(), 5);
        assert_eq!(last[4], "last words");
        assert_eq!(last[3], "x".repeat(10));
        assert_eq!(last[0], "x".repeat(KEPT_STDERR_CHARS));
    }

    #[test]
    fn option_values_are_escaped() {
        assert_eq!(escape_option(r#"a"b\c"#), r#"a\"b\\c"#);
    }
}

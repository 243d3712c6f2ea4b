//! Test servers of a test's own: the FTP server (pyftpdlib) and the S3
//! server (s3s-fs) that scripts/test.sh provides, started on a free port
//! with a data dir of the test's choosing, to be killed and restarted.
//! Their commands come from `DBS_TEST_FTP_SERVER` and `DBS_TEST_S3_SERVER`
//! (scripts/lib/services/ftp.sh, s3.sh); a missing one fails the test.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::control::free_port;
pub use super::discovery_env::env;
use super::{kill, wait_for, wait_for_port};

/// A server process on 127.0.0.1, stopped when dropped.
pub struct ServerProcess {
    child: Option<Child>,
    argv: Vec<OsString>,
    /// The port it listens on.
    pub port: u16,
    /// Its data dir.
    pub dir: PathBuf,
}

/// The FTP server's login of [`ServerProcess::ftp`].
pub const FTP_USER: &str = "suite";
/// Its password.
pub const FTP_PASSWORD: &str = "suite-password";
/// The S3 server's access key of [`ServerProcess::s3`].
pub const S3_ACCESS_KEY: &str = "suitekey";
/// Its secret key.
pub const S3_SECRET_KEY: &str = "suite-secret";
/// The bucket [`ServerProcess::s3`] creates.
pub const S3_BUCKET: &str = "bkt";

impl ServerProcess {
    /// pyftpdlib serving `dir` as the home of [`FTP_USER`].
    pub fn ftp(dir: &Path) -> Self {
        let port = free_port();
        let mut argv: Vec<OsString> = env("DBS_TEST_FTP_SERVER")
            .split_whitespace()
            .map(OsString::from)
            .collect();
        for arg in ["-p", &port.to_string(), "-d"] {
            argv.push(arg.into());
        }
        argv.push(dir.into());
        for arg in ["-u", FTP_USER, "-P", FTP_PASSWORD] {
            argv.push(arg.into());
        }
        Self::spawn(argv, port, dir)
    }

    /// s3s-fs storing in `dir`, with the bucket [`S3_BUCKET`].
    pub fn s3(dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join(S3_BUCKET)).expect("bucket dir");
        let port = free_port();
        let mut argv = vec![OsString::from(env("DBS_TEST_S3_SERVER"))];
        for arg in [
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            S3_ACCESS_KEY,
            "--secret-key",
            S3_SECRET_KEY,
        ] {
            argv.push(arg.into());
        }
        argv.push(dir.into());
        Self::spawn(argv, port, dir)
    }

    fn spawn(argv: Vec<OsString>, port: u16, dir: &Path) -> Self {
        let mut server = ServerProcess {
            child: None,
            argv,
            port,
            dir: dir.to_owned(),
        };
        server.restart();
        server
    }

    /// Starts the process again, same port and data dir.
    pub fn restart(&mut self) {
        let child = Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {:?}: {e}", self.argv[0]));
        self.child = Some(child);
        wait_for_port(&format!("{:?}", self.argv[0]), self.port);
    }

    /// SIGKILLs the process.
    pub fn kill(&mut self) {
        kill(&mut self.child);
    }

    /// Waits until `sent()` reaches `after`, then kills the server and
    /// starts it again `down` later: an outage in the middle of a download.
    pub fn outage_after(&mut self, after: u64, sent: impl Fn() -> u64, down: Duration) {
        wait_for(
            &format!("{after} bytes sent"),
            Duration::from_secs(30),
            || (sent() >= after).then_some(()),
        );
        self.kill();
        std::thread::sleep(down);
        self.restart();
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Multipart uploads s3s-fs holds that are neither completed nor
    /// aborted: its staging files `.upload-{id}.json` and
    /// `.upload_id-{id}.part-{n}` in the data dir (s3s-fs 0.14 has no
    /// ListMultipartUploads).
    pub fn s3_uploads_in_progress(&self) -> Vec<String> {
        std::fs::read_dir(&self.dir)
            .expect("s3 data dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".upload-") || n.starts_with(".upload_id-"))
            .collect()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

//! One fixture per sink for the behaviour suite (tests/sink_behaviour.rs):
//! a fresh, empty target of that kind with its `[targets.*]` section, where
//! the bytes it stores are on this machine's disk, and what its
//! documentation promises where the sinks differ.
//!
//! Every fixture's storage can be a small tmpfs (`start(Some("2m"))`) for
//! "no space": the local root, the NAS share, the FTP server's home
//! (pyftpdlib) or the S3 server's data dir (s3s-fs). The FTP and S3 fixtures
//! run a server of their own (support::servers), so what a test sees in
//! its data dir is its own doing.

use std::path::{Path, PathBuf};

use super::servers::{
    ServerProcess, FTP_PASSWORD, FTP_USER, S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY,
};
use super::tmpfs::Tmpfs;

/// The `[targets.local]` section for `root`.
pub fn local_section(root: &Path) -> String {
    format!("[targets.local]\nroot = {:?}\n", root.display())
}

/// The `[targets.nas]` section for `root`.
pub fn nas_section(root: &Path) -> String {
    format!("[targets.nas]\nroot = {:?}\n", root.display())
}

/// A download target of one kind, fresh and empty, for one test.
pub trait SinkFixture: Sized {
    /// The location tasks name it by.
    const LOCATION: &'static str;
    /// Whether a download stopped half-way keeps its partial for the next
    /// run (docs/targets.md; MinIO starts over, docs/targets-remote.md).
    const KEEPS_PARTIAL: bool;
    /// The code a set larger than the room left ends with.
    const NO_SPACE_CODE: &'static str;
    /// The code of a download through a directory under the root that is
    /// a symbolic link to outside it; `None` where the target has no links
    /// (object keys).
    const SYMLINK_CODE: Option<&'static str>;

    /// A fresh target; with `disk`, its storage is a tmpfs of that size.
    fn start(disk: Option<&str>) -> Self;

    /// Its `[targets.*]` section of gateway.toml.
    fn section(&self) -> String;

    /// Where the content of the target's root is on this machine's disk.
    fn root(&self) -> PathBuf;

    /// Uploads the store holds that are not objects yet (an S3 server's
    /// unfinished multipart uploads); none on the other targets.
    fn pending(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A temporary directory, or a tmpfs of a given size on one.
pub struct Disk {
    tmpfs: Option<Tmpfs>,
    dir: tempfile::TempDir,
}

impl Disk {
    /// A plain temporary directory, or (with `size`) a tmpfs of that size.
    pub fn new(size: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tmpfs = size.map(|size| Tmpfs::mount_at(dir.path(), size));
        Disk { tmpfs, dir }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        // Unmount before the directory is removed.
        self.tmpfs.take();
    }
}

/// `[targets.local]` on a directory `root` in a scratch directory.
pub struct Local {
    disk: Disk,
}

impl SinkFixture for Local {
    const LOCATION: &'static str = "local";
    const KEEPS_PARTIAL: bool = true;
    const NO_SPACE_CODE: &'static str = "Target.NoSpace";
    const SYMLINK_CODE: Option<&'static str> = Some("Target.UnsafePath");

    fn start(disk: Option<&str>) -> Self {
        let disk = Disk::new(disk);
        std::fs::create_dir(disk.path().join("root")).unwrap();
        Local { disk }
    }

    fn section(&self) -> String {
        local_section(&self.root())
    }

    fn root(&self) -> PathBuf {
        self.disk.path().join("root")
    }
}

/// `[targets.nas]` on a tmpfs mount point (a share must be mounted).
pub struct Nas {
    share: Tmpfs,
    _base: tempfile::TempDir,
}

impl SinkFixture for Nas {
    const LOCATION: &'static str = "nas";
    const KEEPS_PARTIAL: bool = true;
    const NO_SPACE_CODE: &'static str = "Target.NoSpace";
    const SYMLINK_CODE: Option<&'static str> = Some("Target.UnsafePath");

    fn start(disk: Option<&str>) -> Self {
        let base = tempfile::tempdir().unwrap();
        let mount = base.path().join("share");
        std::fs::create_dir(&mount).unwrap();
        let share = Tmpfs::mount_at(&mount, disk.unwrap_or("64m"));
        Nas { share, _base: base }
    }

    fn section(&self) -> String {
        nas_section(&self.root())
    }

    fn root(&self) -> PathBuf {
        self.share.path().to_owned()
    }
}

/// `[targets.ftp]` with root `/backups` on an FTP server of its own.
pub struct Ftp {
    /// The server, to kill and restart.
    pub server: ServerProcess,
    _disk: Disk,
}

impl SinkFixture for Ftp {
    const LOCATION: &'static str = "ftp";
    const KEEPS_PARTIAL: bool = true;
    /// pyftpdlib resets the data connection when its disk is full: a
    /// connection error to the FTP target (retryable; the partial stays).
    const NO_SPACE_CODE: &'static str = "Target.RemoteError";
    /// The server keeps its user inside the home: pyftpdlib refuses a path
    /// whose real path leaves it (550).
    const SYMLINK_CODE: Option<&'static str> = Some("Target.RemoteError");

    fn start(disk: Option<&str>) -> Self {
        let disk = Disk::new(disk);
        let server = ServerProcess::ftp(disk.path());
        Ftp {
            server,
            _disk: disk,
        }
    }

    fn section(&self) -> String {
        format!(
            "[targets.ftp]\nhost = \"127.0.0.1\"\nport = {}\nuser = {FTP_USER:?}\n\
             password = {FTP_PASSWORD:?}\nroot = \"/backups\"\nconnect_attempts = 2\n",
            self.server.port
        )
    }

    fn root(&self) -> PathBuf {
        self.server.dir.join("backups")
    }
}

/// `[targets.minio]` with prefix `backups` on an S3 server of its own,
/// parts of 5 MiB.
pub struct Minio {
    /// The server, to kill and restart.
    pub server: ServerProcess,
    _disk: Disk,
}

impl SinkFixture for Minio {
    const LOCATION: &'static str = "minio";
    const KEEPS_PARTIAL: bool = false;
    /// s3s-fs answers a part it cannot store with a 5xx, retried as a
    /// transient error and reported as one.
    const NO_SPACE_CODE: &'static str = "Target.RemoteError";
    const SYMLINK_CODE: Option<&'static str> = None;

    fn start(disk: Option<&str>) -> Self {
        let disk = Disk::new(disk);
        let server = ServerProcess::s3(disk.path());
        Minio {
            server,
            _disk: disk,
        }
    }

    fn section(&self) -> String {
        format!(
            "[targets.minio]\nendpoint = {:?}\nbucket = {S3_BUCKET:?}\n\
             access_key_id = {S3_ACCESS_KEY:?}\nsecret_access_key = {S3_SECRET_KEY:?}\n\
             prefix = \"backups\"\npart_size_mib = 5\nparts_in_flight = 2\nretry_timeout_secs = 2\n",
            self.server.endpoint()
        )
    }

    fn root(&self) -> PathBuf {
        self.server.dir.join(S3_BUCKET).join("backups")
    }

    fn pending(&self) -> Vec<String> {
        self.server.s3_uploads_in_progress()
    }
}

//! A small tmpfs mounted for one test (needs root, as scripts/test.sh runs),
//! unmounted when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs.
pub struct Tmpfs {
    path: PathBuf,
    /// The temporary mount point [`Tmpfs::mount`] made, removed after the
    /// unmount.
    _dir: Option<tempfile::TempDir>,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=`, e.g. `1m`) on a fresh
    /// temporary directory. Fails the test with a clear message when not
    /// root.
    pub fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut tmpfs = Self::mount_at(dir.path(), size);
        tmpfs._dir = Some(dir);
        tmpfs
    }

    /// Mounts a tmpfs of `size` on the existing directory `path`.
    pub fn mount_at(path: &Path, size: &str) -> Self {
        let uid = Command::new("id").arg("-u").output().expect("run id -u");
        assert!(
            String::from_utf8_lossy(&uid.stdout).trim() == "0",
            "this test mounts a tmpfs and needs root; run it through scripts/test.sh as root"
        );
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs failed");
        Tmpfs {
            path: path.to_owned(),
            _dir: None,
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

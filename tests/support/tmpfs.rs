//! A small tmpfs mounted for one test (needs root, as scripts/test.sh runs),
//! unmounted when dropped.

use std::path::Path;
use std::process::Command;

/// A mounted tmpfs on a fresh temporary directory.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=`, e.g. `1m`). Fails the
    /// test with a clear message when not root.
    pub fn mount(size: &str) -> Self {
        let uid = Command::new("id").arg("-u").output().expect("run id -u");
        assert!(
            String::from_utf8_lossy(&uid.stdout).trim() == "0",
            "this test mounts a tmpfs and needs root; run it through scripts/test.sh as root"
        );
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs failed");
        Tmpfs { dir }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

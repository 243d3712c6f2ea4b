//! The `nas` target: a mounted NFS/SMB share, written like `local`, but only
//! while its root is a mount point.
//!
//! When the share is not mounted its root is a plain directory on the host's
//! own disk; writing there would fill that disk. So [`NasTarget::check`] and
//! [`NasTarget::open`] refuse with [`SinkError::NotMounted`] unless the root
//! is on a different device than its parent, or is listed as a mount point
//! in `/proc/self/mountinfo` (a bind mount of the same device). The check
//! is made again before a set is committed: a share unmounted during the
//! download (`umount -l` leaves open files writable on the detached share)
//! fails the set with `Target.NotMounted` instead of reporting it done.

use std::path::{Path, PathBuf};

use std::os::unix::fs::MetadataExt;

use async_trait::async_trait;
use bytes::Bytes;
use serde::Deserialize;

use super::local::{absolute_root, LocalTarget};
use super::{BuildError, ByteStream, SinkConfig, SinkError, SinkWriter, Target};
use crate::api::layout::RelPath;

/// `[targets.nas]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NasTargetConfig {
    /// Mount point of the share; downloads are refused while it is not
    /// mounted, so they never fill the host's own disk.
    pub root: PathBuf,
}

impl SinkConfig for NasTargetConfig {
    type Target = NasTarget;

    fn build(&self) -> Result<NasTarget, BuildError> {
        absolute_root("targets.nas.root", &self.root)?;
        Ok(NasTarget::new(&self.root))
    }
}

/// A NAS target rooted at a mount point.
#[derive(Debug, Clone)]
pub struct NasTarget {
    inner: LocalTarget,
}

impl NasTarget {
    /// A `nas` target writing under `root`, which must be a mount point.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        NasTarget {
            inner: LocalTarget::with_kind("nas", root),
        }
    }

    /// The root directory (the mount point).
    pub fn root(&self) -> &Path {
        self.inner.root()
    }

    /// The device of the mounted root, or `NotMounted`.
    async fn ensure_mounted(&self) -> Result<u64, SinkError> {
        mounted_device(self.root()).await
    }
}

#[async_trait]
impl Target for NasTarget {
    fn kind(&self) -> &'static str {
        "nas"
    }

    fn describe(&self, path: &RelPath) -> String {
        self.inner.describe(path)
    }

    async fn check(&self) -> Result<(), SinkError> {
        self.inner.check().await?;
        self.ensure_mounted().await.map(|_| ())
    }

    async fn free_space(&self) -> Result<Option<u64>, SinkError> {
        self.ensure_mounted().await?;
        self.inner.free_space().await
    }

    async fn open(
        &self,
        path: &RelPath,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn SinkWriter>, SinkError> {
        let device = self.ensure_mounted().await?;
        Ok(Box::new(NasWriter {
            inner: self.inner.open(path, expected_size).await?,
            root: self.root().to_path_buf(),
            device,
        }))
    }
}

/// The device of `root` when it is a mount point, else `NotMounted`.
async fn mounted_device(root: &Path) -> Result<u64, SinkError> {
    let owned = root.to_path_buf();
    let device = tokio::task::spawn_blocking(move || {
        is_mount_point(&owned)
            .then(|| std::fs::metadata(&owned).ok().map(|m| m.dev()))
            .flatten()
    })
    .await
    .ok()
    .flatten();
    device.ok_or_else(|| SinkError::NotMounted {
        root: root.display().to_string(),
    })
}

/// A local writer whose commit first checks that the share it was opened
/// on is still mounted at the root.
struct NasWriter {
    inner: Box<dyn SinkWriter>,
    root: PathBuf,
    device: u64,
}

#[async_trait]
impl SinkWriter for NasWriter {
    fn offset(&self) -> u64 {
        self.inner.offset()
    }

    async fn read_back(&mut self) -> Result<Option<ByteStream>, SinkError> {
        self.inner.read_back().await
    }

    async fn restart(&mut self) -> Result<(), SinkError> {
        self.inner.restart().await
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), SinkError> {
        self.inner.write(chunk).await
    }

    async fn commit(self: Box<Self>) -> Result<(), SinkError> {
        match mounted_device(&self.root).await {
            Ok(device) if device == self.device => self.inner.commit().await,
            _ => {
                // The partial is on the share that went away: nothing to keep.
                let _ = self.inner.abort(false).await;
                Err(SinkError::NotMounted {
                    root: self.root.display().to_string(),
                })
            }
        }
    }

    async fn abort(self: Box<Self>, keep_partial: bool) -> Result<(), SinkError> {
        self.inner.abort(keep_partial).await
    }
}

/// True when `path` is a mount point: its device differs from its parent's,
/// or `/proc/self/mountinfo` lists it (bind mounts keep the device).
pub fn is_mount_point(path: &Path) -> bool {
    let Ok(path) = std::fs::canonicalize(path) else {
        return false;
    };
    let Some(parent) = path.parent() else {
        return true; // "/" is always a mount point.
    };
    if let (Ok(a), Ok(b)) = (rustix::fs::stat(&path), rustix::fs::stat(parent)) {
        if a.st_dev != b.st_dev {
            return true;
        }
    }
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|info| listed_in_mountinfo(&info, &path))
        .unwrap_or(false)
}

/// True when the mount-point field (5th) of a `mountinfo` line is `path`.
fn listed_in_mountinfo(info: &str, path: &Path) -> bool {
    let wanted = path.to_string_lossy();
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|field| unescape_mountinfo(field) == wanted)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = std::str::from_utf8(&bytes[i + 1..i + 4]).ok();
            if let Some(v) = digits.and_then(|d| u8::from_str_radix(d, 8).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_fields_are_unescaped() {
        let info = "36 35 98:0 /mnt1 /mnt/my\\040share rw,noatime master:1 - ext3 /dev/root rw\n";
        assert!(listed_in_mountinfo(info, Path::new("/mnt/my share")));
        assert!(!listed_in_mountinfo(info, Path::new("/mnt/my")));
    }

    #[test]
    fn root_is_a_mount_point_and_a_plain_dir_is_not() {
        assert!(is_mount_point(Path::new("/")));
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_mount_point(dir.path()));
        assert!(!is_mount_point(&dir.path().join("missing")));
    }
}

//! The `local` target: a directory on this host.
//!
//! A set at `dir/name` is written to its partial `{root}/dir/.dbs-part.name`
//! (`RelPath::partial`: a name no set can take) and renamed to
//! `{root}/dir/name` on commit, after `fsync` of the file; the directory is
//! synced after the rename so the new name survives a power cut. Every path
//! is reached beneath the root without following symbolic links
//! (`beneath`): a link anywhere under the root is refused with
//! `Target.UnsafePath`, and so is a partial that is not a regular file.
//! Files are 0640 and the directories created 0750, whatever the umask.
//!
//! A partial left by an earlier attempt is resumed and read back for
//! hashing. The partial is locked (`flock`) while a writer holds it, so two
//! downloads of one set cannot interleave: a second `open` waits (polling
//! with backoff) until the first writer lets go, then resumes what it left
//! or, when it committed, starts a new partial. A thread of its own writes
//! the file (`file_writer`) while the network is read, and starts writeback
//! window by window, so the final `fsync` is short and the page cache is not
//! flooded with the set.

use std::fs::File as StdFile;
use std::io::{self, Seek, SeekFrom};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use rustix::fs::FlockOperation;
use rustix::io::Errno;
use serde::Deserialize;
use tokio::fs::{self, File};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::{BuildError, ByteStream, SinkConfig, SinkError, SinkWriter, Target};
use crate::api::layout::RelPath;
use beneath::{Ident, WalkError};
use file_writer::FileWriter;

mod beneath;
mod file_writer;

/// Chunk size used to read a partial back for hashing.
const READ_BACK_CHUNK: usize = 256 * 1024;
/// First wait for a partial locked by another writer; doubles up to
/// [`LOCK_WAIT_MAX`].
const LOCK_WAIT_FIRST: Duration = Duration::from_millis(100);
/// Longest wait between two tries of a locked partial.
const LOCK_WAIT_MAX: Duration = Duration::from_secs(5);

/// `[targets.local]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalTargetConfig {
    /// Directory sets are written under (must exist).
    pub root: PathBuf,
}

impl SinkConfig for LocalTargetConfig {
    type Target = LocalTarget;

    fn build(&self) -> Result<LocalTarget, BuildError> {
        absolute_root("targets.local.root", &self.root)?;
        Ok(LocalTarget::new(&self.root))
    }
}

/// Refuses a relative `root` (named `key` in gateway.toml).
pub(super) fn absolute_root(key: &'static str, root: &Path) -> Result<(), BuildError> {
    if root.is_absolute() {
        Ok(())
    } else {
        Err(BuildError::Value {
            key,
            reason: "must be an absolute path",
        })
    }
}

/// A directory target rooted at `root`.
#[derive(Debug, Clone)]
pub struct LocalTarget {
    kind: &'static str,
    root: PathBuf,
}

impl LocalTarget {
    /// A `local` target writing under `root` (which must exist).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self::with_kind("local", root)
    }

    /// The same behaviour under another location name (used by `nas`).
    pub(crate) fn with_kind(kind: &'static str, root: impl Into<PathBuf>) -> Self {
        LocalTarget {
            kind,
            root: root.into(),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the final file of `path` lives.
    pub fn final_path(&self, path: &RelPath) -> PathBuf {
        path.under(&self.root)
    }

    /// Where the partial file of `path` lives while it is written.
    pub fn part_path(&self, path: &RelPath) -> PathBuf {
        path.partial().under(&self.root)
    }

    fn err(&self, path: &Path, e: io::Error) -> SinkError {
        SinkError::io(self.kind, path.display().to_string(), e)
    }
}

/// Maps a refusal or an I/O error met beneath `base` onto a [`SinkError`].
fn walk_err(kind: &'static str, base: &Path, e: WalkError) -> SinkError {
    match e {
        WalkError::Unsafe { at, reason } => SinkError::UnsafePath {
            target: kind,
            location: base.join(at).display().to_string(),
            reason,
        },
        WalkError::Io { at, source } => {
            SinkError::io(kind, base.join(at).display().to_string(), source)
        }
    }
}

/// The partial, opened and locked.
struct Opened {
    dir: OwnedFd,
    file: StdFile,
    ident: Ident,
    offset: u64,
}

/// One try at opening and locking the partial.
enum Attempt {
    Ready(Opened),
    /// Another writer holds the lock.
    Locked,
    /// The name changed hands while the lock was awaited (the writer that
    /// held it committed or removed it): try again on the name.
    Moved,
}

/// Opens the directory and the partial of `path` beneath `root` without
/// following links, and tries to lock the partial.
fn try_open(
    kind: &'static str,
    root: &Path,
    path: &RelPath,
    expected_size: Option<u64>,
) -> Result<Attempt, SinkError> {
    let dir_path = path
        .parent_components()
        .iter()
        .fold(root.to_path_buf(), |p, c| p.join(c));
    let root_fd =
        beneath::open_root(root).map_err(|e| SinkError::io(kind, root.display().to_string(), e))?;
    let dir = beneath::open_dir(&root_fd, path.parent_components())
        .map_err(|e| walk_err(kind, root, e))?;
    let partial = path.partial();
    let part_name = partial.file_name();
    let on_file = |e| walk_err(kind, &dir_path, e);
    beneath::check_final(&dir, path.file_name()).map_err(on_file)?;
    let mut file = beneath::open_file(&dir, part_name).map_err(on_file)?;
    let part_shown = || dir_path.join(part_name).display().to_string();
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => return Ok(Attempt::Locked),
        Err(e) => return Err(SinkError::io(kind, part_shown(), e.into())),
    }
    let ident = Ident::of(&file).map_err(|e| SinkError::io(kind, part_shown(), e))?;
    if !beneath::is_same(&dir, part_name, ident).map_err(on_file)? {
        return Ok(Attempt::Moved);
    }
    let io = |e| SinkError::io(kind, part_shown(), e);
    let mut offset = file.metadata().map_err(io)?.len();
    if expected_size.is_some_and(|expected| offset > expected) {
        file.set_len(0).map_err(io)?;
        offset = 0;
    }
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    Ok(Attempt::Ready(Opened {
        dir,
        file,
        ident,
        offset,
    }))
}

#[async_trait]
impl Target for LocalTarget {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn describe(&self, path: &RelPath) -> String {
        format!("{}:{}", self.kind, self.final_path(path).display())
    }

    async fn check(&self) -> Result<(), SinkError> {
        let unusable = |reason: String| SinkError::Unusable {
            target: self.kind,
            location: self.root.display().to_string(),
            reason,
        };
        let meta = fs::metadata(&self.root)
            .await
            .map_err(|e| unusable(e.to_string()))?;
        if !meta.is_dir() {
            return Err(unusable("not a directory".into()));
        }
        if meta.permissions().readonly() {
            return Err(unusable("read-only".into()));
        }
        Ok(())
    }

    async fn free_space(&self) -> Result<Option<u64>, SinkError> {
        let root = self.root.clone();
        let stat = tokio::task::spawn_blocking(move || rustix::fs::statvfs(&root))
            .await
            .map_err(|e| self.err(&self.root, io::Error::other(e)))?
            .map_err(|e| self.err(&self.root, e.into()))?;
        Ok(Some(stat.f_bavail.saturating_mul(stat.f_frsize)))
    }

    async fn open(
        &self,
        path: &RelPath,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn SinkWriter>, SinkError> {
        let mut wait = LOCK_WAIT_FIRST;
        let mut told = false;
        let opened = loop {
            let (kind, root, rel) = (self.kind, self.root.clone(), path.clone());
            let attempt =
                tokio::task::spawn_blocking(move || try_open(kind, &root, &rel, expected_size))
                    .await
                    .map_err(|e| self.err(&self.root, io::Error::other(e)))??;
            match attempt {
                Attempt::Ready(opened) => break opened,
                Attempt::Moved => continue,
                Attempt::Locked => {
                    // Another run of this set (an earlier attempt still
                    // going) writes it: wait for it rather than fail.
                    if !told {
                        tracing::info!(location = %self.part_path(path).display(),
                            "another download is writing this partial; waiting for it");
                        told = true;
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(LOCK_WAIT_MAX);
                }
            }
        };
        let partial = path.partial();
        Ok(Box::new(LocalWriter {
            file: FileWriter::new(opened.file, opened.offset),
            place: Place {
                kind: self.kind,
                dir: Arc::new(opened.dir),
                ident: opened.ident,
                final_name: path.file_name().to_owned(),
                part_name: partial.file_name().to_owned(),
                final_path: self.final_path(path),
                part_path: self.part_path(path),
            },
            offset: opened.offset,
            expected_size,
        }))
    }
}

/// Writes one partial and renames it on commit, through the directory's
/// descriptor.
struct LocalWriter {
    file: FileWriter,
    place: Place,
    offset: u64,
    expected_size: Option<u64>,
}

/// Where a writer's partial and final name are.
struct Place {
    kind: &'static str,
    /// The directory holding the partial and the final name.
    dir: Arc<OwnedFd>,
    /// The partial this writer opened and locked.
    ident: Ident,
    final_name: String,
    part_name: String,
    /// For messages.
    final_path: PathBuf,
    part_path: PathBuf,
}

impl Place {
    fn err(&self, e: io::Error) -> SinkError {
        SinkError::io(self.kind, self.part_path.display().to_string(), e)
    }

    /// Runs `op` on the directory's descriptor off the runtime; errors are
    /// named beneath the partial's directory.
    async fn in_dir<T: Send + 'static>(
        &self,
        op: impl FnOnce(&OwnedFd) -> Result<T, WalkError> + Send + 'static,
    ) -> Result<T, SinkError> {
        let dir = self.dir.clone();
        let base = self
            .part_path
            .parent()
            .unwrap_or(Path::new(""))
            .to_path_buf();
        let kind = self.kind;
        tokio::task::spawn_blocking(move || op(&dir))
            .await
            .map_err(|e| self.err(io::Error::other(e)))?
            .map_err(|e| walk_err(kind, &base, e))
    }

    async fn remove_partial(&self) -> Result<(), SinkError> {
        let part = self.part_name.clone();
        self.in_dir(move |dir| beneath::remove(dir, &part)).await
    }
}

#[async_trait]
impl SinkWriter for LocalWriter {
    fn offset(&self) -> u64 {
        self.offset
    }

    async fn read_back(&mut self) -> Result<Option<ByteStream>, SinkError> {
        let (name, ident) = (self.place.part_name.clone(), self.place.ident);
        let file = self
            .place
            .in_dir(move |dir| beneath::reopen_read(dir, &name, ident))
            .await?;
        let kind = self.place.kind;
        let shown = self.place.part_path.display().to_string();
        let file = File::from_std(file).take(self.offset);
        let stream = ReaderStream::with_capacity(file, READ_BACK_CHUNK)
            .map(move |r| r.map_err(|e| SinkError::io(kind, shown.clone(), e)));
        Ok(Some(stream.boxed()))
    }

    async fn restart(&mut self) -> Result<(), SinkError> {
        self.file.truncate().await.map_err(|e| self.place.err(e))?;
        self.offset = 0;
        Ok(())
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), SinkError> {
        let len = chunk.len() as u64;
        self.file
            .write(chunk)
            .await
            .map_err(|e| self.place.err(e))?;
        self.offset += len;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), SinkError> {
        let LocalWriter {
            file,
            place,
            offset,
            expected_size,
        } = *self;
        let file = file.close().await.map_err(|e| place.err(e))?;
        if let Some(expected) = expected_size.filter(|&expected| expected != offset) {
            drop(file);
            place.remove_partial().await?;
            return Err(SinkError::SizeMismatch {
                location: place.final_path.display().to_string(),
                expected,
                actual: offset,
            });
        }
        tokio::task::spawn_blocking(move || file.sync_all())
            .await
            .map_err(io::Error::other)
            .and_then(|r| r)
            .map_err(|e| place.err(e))?;
        let (part, fin, ident) = (
            place.part_name.clone(),
            place.final_name.clone(),
            place.ident,
        );
        place
            .in_dir(move |dir| {
                // Only the partial this writer holds is ever published.
                if !beneath::is_same(dir, &part, ident)? {
                    return Err(WalkError::Unsafe {
                        at: part,
                        reason: "replaced while it was being written; not published".into(),
                    });
                }
                beneath::rename_and_sync(dir, &part, &fin)
            })
            .await
    }

    async fn abort(self: Box<Self>, keep_partial: bool) -> Result<(), SinkError> {
        // Whatever was queued is written first, so a resume finds it.
        let closed = self.file.close().await;
        if keep_partial {
            closed.map(drop).map_err(|e| self.place.err(e))
        } else {
            drop(closed);
            self.place.remove_partial().await
        }
    }
}

//! The `local` target: a directory on this host.
//!
//! A set at `path` is written to `{root}/{path}.part` (the final name plus
//! `.part`, in the same directory) and renamed to `{root}/{path}` on commit,
//! after `fsync` of the file; the directory is synced after the rename so
//! the new name survives a power cut. A partial left by an earlier attempt
//! is resumed and read back for hashing. The partial is locked (`flock`)
//! while a writer holds it, so two downloads of one set cannot interleave.
//! A thread of its own writes the file (`file_writer`) while the network
//! is read, and starts writeback window by window, so the final `fsync` is
//! short and the page cache is not flooded with the set.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::fs::{self, File, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::file_writer::FileWriter;
use super::{ByteStream, SinkError, SinkWriter, Target};
use crate::transfer::path::RelPath;

/// Chunk size used to read a partial back for hashing.
const READ_BACK_CHUNK: usize = 256 * 1024;
/// Suffix of the temporary name beside the final name.
pub const PART_SUFFIX: &str = ".part";

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
        part_path_of(&self.final_path(path))
    }

    fn err(&self, path: &Path, e: io::Error) -> SinkError {
        SinkError::io(self.kind, path.display().to_string(), e)
    }
}

fn part_path_of(final_path: &Path) -> PathBuf {
    let mut name = final_path.file_name().unwrap_or_default().to_os_string();
    name.push(PART_SUFFIX);
    final_path.with_file_name(name)
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
        expected_size: u64,
    ) -> Result<Box<dyn SinkWriter>, SinkError> {
        let final_path = self.final_path(path);
        let part_path = part_path_of(&final_path);
        if let Some(dir) = final_path.parent() {
            fs::create_dir_all(dir)
                .await
                .map_err(|e| self.err(dir, e))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part_path)
            .await
            .map_err(|e| self.err(&part_path, e))?;
        // Two attempts of one task (a lease offered again while the first
        // still runs) must not write one partial at once.
        if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
            return Err(SinkError::Unusable {
                target: self.kind,
                location: part_path.display().to_string(),
                reason: "another download is writing this file".into(),
            });
        }
        let mut offset = file
            .metadata()
            .await
            .map_err(|e| self.err(&part_path, e))?
            .len();
        if offset > expected_size {
            file.set_len(0).await.map_err(|e| self.err(&part_path, e))?;
            offset = 0;
        }
        file.seek(SeekFrom::Start(offset))
            .await
            .map_err(|e| self.err(&part_path, e))?;
        Ok(Box::new(LocalWriter {
            kind: self.kind,
            file: FileWriter::new(file.into_std().await, offset),
            final_path,
            part_path,
            offset,
            expected_size,
        }))
    }
}

/// Writes one `.part` file and renames it on commit.
struct LocalWriter {
    kind: &'static str,
    file: FileWriter,
    final_path: PathBuf,
    part_path: PathBuf,
    offset: u64,
    expected_size: u64,
}

impl LocalWriter {
    fn err(&self, path: &Path, e: io::Error) -> SinkError {
        SinkError::io(self.kind, path.display().to_string(), e)
    }
}

#[async_trait]
impl SinkWriter for LocalWriter {
    fn offset(&self) -> u64 {
        self.offset
    }

    async fn read_back(&mut self) -> Result<Option<ByteStream>, SinkError> {
        let file = File::open(&self.part_path)
            .await
            .map_err(|e| self.err(&self.part_path, e))?;
        let kind = self.kind;
        let shown = self.part_path.display().to_string();
        let stream = ReaderStream::with_capacity(file.take(self.offset), READ_BACK_CHUNK)
            .map(move |r| r.map_err(|e| SinkError::io(kind, shown.clone(), e)));
        Ok(Some(stream.boxed()))
    }

    async fn restart(&mut self) -> Result<(), SinkError> {
        self.file
            .truncate()
            .await
            .map_err(|e| self.err(&self.part_path, e))?;
        self.offset = 0;
        Ok(())
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), SinkError> {
        let len = chunk.len() as u64;
        self.file
            .write(chunk)
            .await
            .map_err(|e| self.err(&self.part_path, e))?;
        self.offset += len;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), SinkError> {
        let LocalWriter {
            kind,
            file,
            final_path,
            part_path,
            offset,
            expected_size,
        } = *self;
        let err = |path: &Path, e| SinkError::io(kind, path.display().to_string(), e);
        let file = file.close().await.map_err(|e| err(&part_path, e))?;
        if offset != expected_size {
            drop(file);
            remove_part(&part_path)
                .await
                .map_err(|e| err(&part_path, e))?;
            return Err(SinkError::SizeMismatch {
                location: final_path.display().to_string(),
                expected: expected_size,
                actual: offset,
            });
        }
        File::from_std(file)
            .sync_all()
            .await
            .map_err(|e| err(&part_path, e))?;
        fs::rename(&part_path, &final_path)
            .await
            .map_err(|e| err(&final_path, e))?;
        if let Some(dir) = final_path.parent() {
            sync_dir(dir).await.map_err(|e| err(dir, e))?;
        }
        Ok(())
    }

    async fn abort(self: Box<Self>, keep_partial: bool) -> Result<(), SinkError> {
        // Whatever was queued is written first, so a resume finds it.
        let closed = self.file.close().await;
        if keep_partial {
            closed
                .map(drop)
                .map_err(|e| SinkError::io(self.kind, self.part_path.display().to_string(), e))
        } else {
            remove_part(&self.part_path)
                .await
                .map_err(|e| SinkError::io(self.kind, self.part_path.display().to_string(), e))
        }
    }
}

/// Removes a partial; one that is already gone is fine.
async fn remove_part(part_path: &Path) -> io::Result<()> {
    match fs::remove_file(part_path).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Syncs a directory so a rename inside it is durable.
async fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).await?.sync_all().await
}

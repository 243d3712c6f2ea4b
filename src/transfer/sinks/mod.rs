//! The sink interface every download target implements, and the error type
//! all sinks share.
//!
//! A [`Target`] is a place where sets land (a directory, a NAS mount, an FTP
//! server, an S3 bucket). [`Target::open`] gives a [`SinkWriter`] for one
//! relative path; the writer writes to a temporary name and makes the final
//! name appear only on [`SinkWriter::commit`]. A sink knows nothing of tasks,
//! URLs or checksums: the pipeline (`transfer::pipeline`) hashes the bytes and
//! decides when to commit.
//!
//! ## Contract
//!
//! - `open(path, expected_size)` finds any partial left by an earlier attempt
//!   at `path` (named by `RelPath::partial`) and resumes it:
//!   [`SinkWriter::offset`] says how many bytes are already there. A partial
//!   longer than `expected_size` is discarded (offset 0). `None` is a
//!   stream whose size is known only at its end (a backup being taken).
//!   Opening never touches a committed object at the final name.
//! - On resume the pipeline needs the checksum (CRC64) of the whole set, so
//!   it asks [`SinkWriter::read_back`] for the bytes already written. A target that
//!   cannot read them back cheaply returns `Ok(None)`; the pipeline then calls
//!   [`SinkWriter::restart`] and downloads from zero. Each target documents its
//!   choice in docs/targets.md.
//! - `restart()` discards the partial and sets the offset to 0 (also used when
//!   the HTTP server ignores `Range`).
//! - `write(chunk)` appends at the current offset. The pipeline awaits every
//!   write before reading more, so a slow sink slows the download and memory
//!   stays bounded; a writer may buffer (a file buffer, an S3 part) but not
//!   without limit.
//! - `commit()` flushes, checks that exactly `expected_size` bytes (or, for
//!   a stream, every byte written) were stored (else
//!   [`SinkError::SizeMismatch`], partial discarded), then makes
//!   the final name appear atomically (rename, complete multipart), replacing
//!   an older object of that name.
//! - `abort(keep_partial)`: `true` leaves the partial for a later resume (a
//!   cancelled or retryable failure); `false` removes it (a checksum mismatch,
//!   a permanent failure). Nothing ever appears at the final name.
//!
//! ## Adding a target
//!
//! A folder `sinks/NAME/` with the target and its config type, which
//! implements [`SinkConfig`] (its `build()` is the one place the target is
//! made), plus two lines here: `pub mod NAME;` and the registry line
//! `NAME: NAME::ItsConfig,` (the location name, the `[targets.NAME]` section).

use std::io;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::api::layout::RelPath;

mod credentials;
pub mod ftp;
pub mod local;
pub mod minio;
pub mod nas;
mod registry;

pub use registry::{BuildError, SinkConfig, Targets};

// The registry: every sink, by location name, with its config section.
registry::sinks! {
    /// `[targets.local]`: a directory on this host.
    local: local::LocalTargetConfig,
    /// `[targets.nas]`: a mounted NFS/SMB share.
    nas: nas::NasTargetConfig,
    /// `[targets.ftp]`: an FTP or FTPS server.
    ftp: ftp::FtpConfig,
    /// `[targets.minio]`: an S3-compatible store (MinIO or any other).
    minio: minio::MinioConfig,
}

/// A stream of bytes already written to a partial, for hashing on resume.
pub type ByteStream = BoxStream<'static, Result<Bytes, SinkError>>;

/// A download target: where sets land.
#[async_trait]
pub trait Target: Send + Sync {
    /// The location name: `local`, `nas`, `ftp`, `minio`.
    fn kind(&self) -> &'static str;

    /// Where `path` ends up, for messages and reports (never a secret), for
    /// example `local:/srv/backups/d/plan/full/set.xb`.
    fn describe(&self, path: &RelPath) -> String;

    /// Checks that the target can be written now (root exists and is a
    /// directory, NAS is mounted, server reachable, credentials accepted,
    /// bucket exists). Cheap enough to call before every download.
    async fn check(&self) -> Result<(), SinkError>;

    /// Bytes that can still be written, or `None` when the target has no
    /// meaningful limit or cannot tell (an object store).
    async fn free_space(&self) -> Result<Option<u64>, SinkError>;

    /// Opens a writer for `path`, resuming a partial left by an earlier
    /// attempt. Creates missing parent directories. `expected_size` is the
    /// object's size, `None` for a stream that ends when it ends.
    async fn open(
        &self,
        path: &RelPath,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn SinkWriter>, SinkError>;
}

/// A writer for one object; see the module doc for the contract.
#[async_trait]
pub trait SinkWriter: Send {
    /// Bytes already written (resumed from a partial plus written since).
    fn offset(&self) -> u64;

    /// The bytes `0..offset()` as they are stored, to hash them on resume;
    /// `Ok(None)` when this target does not read back (the pipeline then
    /// calls [`SinkWriter::restart`]). Call it before writing new bytes.
    async fn read_back(&mut self) -> Result<Option<ByteStream>, SinkError> {
        Ok(None)
    }

    /// Discards what was written; the offset becomes 0.
    async fn restart(&mut self) -> Result<(), SinkError>;

    /// Appends `chunk` at the current offset.
    async fn write(&mut self, chunk: Bytes) -> Result<(), SinkError>;

    /// Checks the size, then makes the final name appear atomically.
    async fn commit(self: Box<Self>) -> Result<(), SinkError>;

    /// Stops without committing; keeps the partial for a resume when
    /// `keep_partial`, else removes it.
    async fn abort(self: Box<Self>, keep_partial: bool) -> Result<(), SinkError>;
}

/// Why a sink failed. Every target maps its own errors onto these.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The root (or bucket, or server directory) is missing or not usable.
    #[error("{target}: {location} is not usable: {reason}")]
    Unusable {
        target: &'static str,
        location: String,
        reason: String,
    },
    /// Something under the root is not what the sink writes (a symbolic
    /// link, a partial that is not a regular file): writing through it could
    /// reach outside the root, so it is refused and nothing is written.
    #[error("{target}: {location}: {reason}")]
    UnsafePath {
        target: &'static str,
        location: String,
        reason: String,
    },
    /// A NAS root that is not a mount point: writing there would fill the
    /// host's own disk.
    #[error("nas: root {root} is not a mount point (is the share mounted?)")]
    NotMounted { root: String },
    /// Not enough room for the set (`needed` 0 when the disk filled up
    /// while writing, and nothing was counted before).
    #[error("{target}: not enough space at {location}{}", shortfall(*needed, *available))]
    NoSpace {
        target: &'static str,
        location: String,
        needed: u64,
        available: u64,
    },
    /// Login or permission refused by a remote target.
    #[error("{target}: access denied at {location}: {message}")]
    Denied {
        target: &'static str,
        location: String,
        message: String,
    },
    /// `commit` found a different number of bytes than announced.
    #[error("{location}: wrote {actual} bytes, expected {expected}")]
    SizeMismatch {
        location: String,
        expected: u64,
        actual: u64,
    },
    /// A local I/O error on `path`.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    /// A remote target (FTP, S3) failed; `retryable` when a later attempt
    /// may succeed (connection reset, timeout, 5xx).
    #[error("{target}: {location}: {message}")]
    Remote {
        target: &'static str,
        location: String,
        message: String,
        retryable: bool,
    },
}

impl SinkError {
    /// Wraps an I/O error on `path`, turning "no space left" and "quota
    /// exceeded" into [`SinkError::NoSpace`] so the task reports the real
    /// cause.
    pub fn io(target: &'static str, path: impl Into<String>, source: io::Error) -> Self {
        let path = path.into();
        if is_no_space(&source) {
            return SinkError::NoSpace {
                target,
                location: path,
                needed: 0,
                available: 0,
            };
        }
        SinkError::Io { path, source }
    }

    /// Stable error code reported to the control plane.
    pub fn code(&self) -> &'static str {
        match self {
            SinkError::Unusable { .. } => "Target.Unavailable",
            SinkError::UnsafePath { .. } => "Target.UnsafePath",
            SinkError::NotMounted { .. } => "Target.NotMounted",
            SinkError::NoSpace { .. } => "Target.NoSpace",
            SinkError::Denied { .. } => "Target.AccessDenied",
            SinkError::SizeMismatch { .. } => "Target.SizeMismatch",
            SinkError::Io { .. } => "Target.IoError",
            SinkError::Remote { .. } => "Target.RemoteError",
        }
    }

    /// True when a later attempt may succeed without anyone changing
    /// anything (network trouble). A full disk, an unmounted share or a
    /// refused login need an operator: not retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            SinkError::Remote { retryable, .. } => *retryable,
            SinkError::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::Interrupted | io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            _ => false,
        }
    }
}

/// What [`SinkError::NoSpace`] says of the space counted, if any was.
fn shortfall(needed: u64, available: u64) -> String {
    if needed == 0 {
        String::new()
    } else {
        format!(": need {needed} bytes, {available} available")
    }
}

/// True for "no space left on device" and "disk quota exceeded".
pub fn is_no_space(e: &io::Error) -> bool {
    let code = e.raw_os_error();
    code == Some(rustix::io::Errno::NOSPC.raw_os_error())
        || code == Some(rustix::io::Errno::DQUOT.raw_os_error())
}

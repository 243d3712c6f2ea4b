//! Where a download's bytes come from: the [`Source`] interface and the
//! error all sources share.
//!
//! The pipeline (`transfer::pipeline`) reads a source, hashes and throttles
//! the bytes, and hands them to a sink. A source knows nothing of targets
//! or checksums.
//!
//! ## Contract
//!
//! - `size()` says how long the whole stream is, when the caller does not.
//! - `open(offset, validator)` gives the bytes from `offset` to the end as
//!   a [`SourceBody`]. A source that cannot start there (it cannot seek, or
//!   the bytes changed since the `validator` an earlier body gave) starts
//!   at 0 instead and says so in [`SourceBody::start`]; the pipeline then
//!   starts over.
//! - Errors say whether a later attempt may help
//!   ([`SourceError::is_retryable`]); the pipeline retries with backoff.
//!
//! ## Adding a source
//!
//! A folder `sources/NAME/` with a type implementing [`Source`], plus the
//! line `pub mod NAME;` here; the code that runs a task of that kind
//! builds it and hands it to the pipeline.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

pub mod http;

/// The bytes of an open body, chunk by chunk.
pub type ByteStream = BoxStream<'static, Result<Bytes, SourceError>>;

/// Where a download's bytes come from; see the module doc for the contract.
#[async_trait]
pub trait Source: Send + Sync {
    /// The source as shown in messages and logs (never a secret).
    fn shown(&self) -> &str;

    /// The size of the whole stream in bytes.
    async fn size(&self) -> Result<u64, SourceError>;

    /// The bytes from `offset` (or from 0, see [`SourceBody::start`]);
    /// `validator` is one an earlier body gave.
    async fn open(&self, offset: u64, validator: Option<&str>) -> Result<SourceBody, SourceError>;
}

/// An open body and what the source said about it.
pub struct SourceBody {
    /// Offset of the first byte of the body in the whole stream.
    pub start: u64,
    /// Size of the whole stream, when the source says it.
    pub total: Option<u64>,
    /// A token for the next `open` that lets the source tell whether the
    /// bytes changed meanwhile (for HTTP: a strong ETag, else
    /// Last-Modified, sent as `If-Range`).
    pub validator: Option<String>,
    /// The bytes, to the end of the stream.
    pub bytes: ByteStream,
}

/// Why the source failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Connecting, sending, or reading the body failed (reset, timeout).
    #[error("{url}: {source}")]
    Network {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    /// A `206` whose `Content-Range` does not start where we asked, or
    /// does not parse.
    #[error("{url}: bad Content-Range: {detail}")]
    BadRange { url: String, detail: String },
    /// `416 Range Not Satisfiable`: the server has fewer bytes than we hold.
    #[error("{url}: range starting at {offset} not satisfiable")]
    RangeNotSatisfiable { url: String, offset: u64 },
    /// The size is needed but the server does not say it.
    #[error("{url}: the server does not report the size (give it explicitly)")]
    SizeUnknown { url: String },
    /// The body ended before the set's last byte, without an error.
    #[error("{url}: body ended at byte {got} of {expected}")]
    Incomplete {
        url: String,
        got: u64,
        expected: u64,
    },
    /// The producer of a one-pass stream (a backup being taken) failed or
    /// cannot start again; `code` is the producer's own.
    #[error("{source_name}: {message}")]
    Producer {
        source_name: String,
        code: &'static str,
        message: String,
    },
    /// The server's size differs from the task's, or it sent more bytes.
    #[error("{url}: size is {actual} bytes, expected {expected}")]
    SizeMismatch {
        url: String,
        expected: u64,
        actual: u64,
    },
}

impl SourceError {
    /// Stable error code reported to the control plane.
    pub fn code(&self) -> &'static str {
        match self {
            SourceError::Network { .. } => "Source.NetworkError",
            SourceError::Status { .. } => "Source.HttpError",
            SourceError::BadRange { .. } => "Source.BadRange",
            SourceError::RangeNotSatisfiable { .. } => "Source.RangeNotSatisfiable",
            SourceError::SizeUnknown { .. } => "Source.SizeUnknown",
            SourceError::Incomplete { .. } => "Source.Incomplete",
            SourceError::SizeMismatch { .. } => "Source.SizeMismatch",
            SourceError::Producer { code, .. } => code,
        }
    }

    /// True when trying again may help: network trouble, 5xx, 408, 429, a
    /// garbled range. A 403 (expired URL) or 404 needs a new task.
    pub fn is_retryable(&self) -> bool {
        match self {
            SourceError::Network { .. }
            | SourceError::BadRange { .. }
            | SourceError::Incomplete { .. } => true,
            SourceError::Status { status, .. } => {
                *status >= 500 || *status == 408 || *status == 429
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses() {
        let s = |status| SourceError::Status {
            url: String::new(),
            status,
        };
        assert!(s(503).is_retryable());
        assert!(s(429).is_retryable());
        assert!(!s(403).is_retryable());
        assert!(!s(404).is_retryable());
    }
}

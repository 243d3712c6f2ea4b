//! [`TransferError`]: why a download failed, with the code reported to the
//! control plane and whether a later attempt may succeed.

use super::checksum::Checksum;
use super::sinks::SinkError;
use super::sources::SourceError;
use super::validate::ValidateError;

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The task was refused before any byte moved.
    #[error(transparent)]
    Invalid(#[from] ValidateError),
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The target failed (full, unmounted, I/O).
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The bytes do not have the expected checksum; the partial was removed.
    #[error("{location}: checksum mismatch: expected {expected}, got {actual}; partial removed")]
    ChecksumMismatch {
        location: String,
        expected: Checksum,
        actual: Checksum,
    },
    /// Stopped by the caller (shutdown); the partial is kept for a resume.
    #[error("download cancelled; partial kept for a resume")]
    Cancelled,
    /// Too many failed attempts in a row; the partial is kept.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        attempts: u32,
        last: Box<TransferError>,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("HTTP client: {0}")]
    Client(String),
}

impl TransferError {
    /// Stable error code reported to the control plane. After retries the
    /// code of the last failure is reported.
    pub fn code(&self) -> &'static str {
        match self {
            TransferError::Invalid(e) => e.code(),
            TransferError::Source(e) => e.code(),
            TransferError::Sink(e) => e.code(),
            TransferError::ChecksumMismatch { .. } => "Transfer.ChecksumMismatch",
            TransferError::Cancelled => "Transfer.Cancelled",
            TransferError::RetriesExhausted { last, .. } => last.code(),
            TransferError::Client(_) => "Transfer.Internal",
        }
    }

    /// True when another attempt may succeed (network trouble, a
    /// cancelled download, retries exhausted on a network error).
    pub fn is_retryable(&self) -> bool {
        match self {
            TransferError::Invalid(e) => e.is_retryable(),
            TransferError::Source(e) => e.is_retryable(),
            TransferError::Sink(e) => e.is_retryable(),
            TransferError::ChecksumMismatch { .. } | TransferError::Client(_) => false,
            TransferError::Cancelled => true,
            TransferError::RetriesExhausted { last, .. } => last.is_retryable(),
        }
    }

    /// Whether the partial is worth keeping after this failure: not when
    /// its bytes are suspect (wrong size or checksum) or take space that is
    /// missing.
    pub(crate) fn keeps_partial(&self) -> bool {
        !matches!(
            self,
            TransferError::ChecksumMismatch { .. }
                | TransferError::Source(
                    SourceError::SizeMismatch { .. } | SourceError::RangeNotSatisfiable { .. }
                )
                | TransferError::Sink(SinkError::NoSpace { .. } | SinkError::SizeMismatch { .. })
        )
    }
}

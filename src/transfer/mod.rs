//! Backup-set downloads: HTTP source → checksum → throttle → sink.
//!
//! - [`checksum`]: the CRC64 tasks carry (and SHA-256 for the CLI).
//! - [`validate`]: checks a [`DownloadTask`] (location, path, URL host).
//! - [`source`]: the HTTP(S) source (Range, If-Range, HEAD).
//! - [`throttle`]: the shared bandwidth limit.
//! - [`progress`]: progress reports at a fixed interval.
//! - [`sinks`]: the [`sinks::Target`] / [`sinks::SinkWriter`] interface and the
//!   `local`, `nas`, `ftp` and `minio` targets.
//! - [`pipeline`]: one download, resumed, retried, verified, committed.
//! - [`downloader`]: what the agent holds: targets, limits, HTTP client.
//! - [`config`]: `[transfer]` and `[targets.*]` of gateway.toml.
//! - [`cli`]: the one-shot `dbs-gateway download` command.
//! - [`error`]: [`TransferError`] and its codes.

pub mod checksum;
pub mod cli;
pub mod config;
pub mod downloader;
pub mod error;
pub mod pipeline;
pub mod progress;
pub mod sinks;
pub mod source;
pub mod throttle;
pub mod validate;

pub use checksum::Checksum;
pub use cli::run_download_cli;
pub use config::{TargetsConfig, TransferConfig};
pub use downloader::Downloader;
pub use error::TransferError;
pub use pipeline::DownloadOutcome;
pub use progress::{Progress, ProgressFn};
pub use validate::DownloadTask;

//! Backup-set downloads: source → checksum → throttle → sink.
//!
//! - [`validate`]: checks the wire's `DownloadSpec` (location, path, URL
//!   origin, checksum) into a [`ValidTask`].
//! - [`sources`]: the [`sources::Source`] interface and the `http` source
//!   (Range, If-Range, HEAD).
//! - [`checksum`]: the CRC64 tasks carry (and SHA-256 for the CLI).
//! - [`throttle`]: the shared bandwidth limit.
//! - [`sinks`]: the [`sinks::Target`] / [`sinks::SinkWriter`] interface, the
//!   `local`, `nas`, `ftp` and `minio` targets, and the registry that
//!   declares `[targets.*]` and builds them.
//! - [`pipeline`]: one download, resumed, retried, verified, committed.
//! - [`progress`]: progress reports at a fixed interval.
//! - [`downloader`]: what the agent holds: targets, limits, HTTP client.
//! - [`config`]: `[transfer]` of gateway.toml.
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
pub mod sources;
pub mod throttle;
pub mod validate;

pub use checksum::Checksum;
pub use cli::run_download_cli;
pub use config::TransferConfig;
pub use downloader::Downloader;
pub use error::TransferError;
pub use pipeline::DownloadOutcome;
pub use progress::{Progress, ProgressFn};
pub use sinks::{Targets, TargetsConfig};
pub use validate::ValidTask;

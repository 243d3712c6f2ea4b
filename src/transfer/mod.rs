//! Backup-set downloads: HTTP source → checksum → throttle → sink.
//!
//! - [`path`]: validated relative paths and the download layout.
//! - [`sinks`]: the [`sinks::Target`] / [`sinks::SinkWriter`] interface and the
//!   `local` and `nas` targets.

pub mod path;
pub mod sinks;

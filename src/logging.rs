//! Log setup shared by both binaries: tracing to stderr, text or JSON.
//!
//! Under systemd (`JOURNAL_STREAM` set) text lines carry no timestamp, since
//! journald stamps them already. `RUST_LOG`, when set, wins over the level
//! from the configuration.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `level` is a level or a filter directive.
pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let _ = match (format, under_journald) {
        (LogFormat::Json, _) => builder.json().flatten_event(true).try_init(),
        (LogFormat::Text, true) => builder.without_time().with_ansi(false).try_init(),
        (LogFormat::Text, false) => builder.try_init(),
    };
}

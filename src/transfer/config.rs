//! The `[transfer]` section of gateway.toml: schema, defaults (in
//! [`defaults`]) and validation. `[targets.*]` is the sinks' own
//! (`sinks::TargetsConfig`).
//!
//! ```toml
//! [transfer]
//! max_concurrent = 2
//! bandwidth_limit_bytes_per_sec = "50MiB"   # or 52428800; 0 = unlimited
//! allowed_url_hosts = []                    # empty: the control plane's origin
//! progress_interval_secs = 5
//! max_retries = 20                        # about 10 minutes of outage with the 60 s cap
//! retry_initial_backoff_ms = 1000
//! retry_max_backoff_secs = 60
//! connect_timeout_secs = 15
//! read_timeout_secs = 60
//! ```

use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

/// Default values of optional keys.
pub mod defaults {
    use bytesize::ByteSize;

    /// `transfer.max_concurrent`.
    pub fn max_concurrent() -> usize {
        2
    }
    /// `transfer.bandwidth_limit_bytes_per_sec`: unlimited.
    pub fn bandwidth_limit() -> ByteSize {
        ByteSize(0)
    }
    /// `transfer.progress_interval_secs`.
    pub fn progress_interval_secs() -> u64 {
        5
    }
    /// `transfer.max_retries`: with the 60 s backoff cap, about ten minutes
    /// of a source (the control plane) that does not answer.
    pub fn max_retries() -> u32 {
        20
    }
    /// `transfer.retry_initial_backoff_ms`.
    pub fn retry_initial_backoff_ms() -> u64 {
        1000
    }
    /// `transfer.retry_max_backoff_secs`.
    pub fn retry_max_backoff_secs() -> u64 {
        60
    }
    /// `transfer.connect_timeout_secs`.
    pub fn connect_timeout_secs() -> u64 {
        15
    }
    /// `transfer.read_timeout_secs`.
    pub fn read_timeout_secs() -> u64 {
        60
    }
}

/// `[transfer]`: how downloads run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferConfig {
    /// Downloads that run at the same time; more tasks wait for a slot.
    #[serde(default = "defaults::max_concurrent")]
    pub max_concurrent: usize,
    /// Bandwidth cap shared by all downloads, bytes per second: an integer
    /// or a size such as `"50MiB"` or `"100 MB"`; 0 means no limit.
    #[serde(default = "defaults::bandwidth_limit")]
    pub bandwidth_limit_bytes_per_sec: ByteSize,
    /// Origins a download URL may point at: `https://host:port` (scheme,
    /// host and port must match), or a bare host, which means that host on
    /// the default port of `http` (80) or `https` (443). Empty: only the
    /// control plane's own origin.
    #[serde(default)]
    pub allowed_url_hosts: Vec<String>,
    /// Seconds between two progress reports of a running download.
    #[serde(default = "defaults::progress_interval_secs")]
    pub progress_interval_secs: u64,
    /// Failed attempts in a row (no byte gained) before a download gives up.
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    /// First wait before a retry, milliseconds; doubles each time, with jitter.
    #[serde(default = "defaults::retry_initial_backoff_ms")]
    pub retry_initial_backoff_ms: u64,
    /// Longest wait between two retries, seconds.
    #[serde(default = "defaults::retry_max_backoff_secs")]
    pub retry_max_backoff_secs: u64,
    /// Timeout to open a connection to the download server, seconds.
    #[serde(default = "defaults::connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// A connection silent for this long is dropped and resumed, seconds.
    #[serde(default = "defaults::read_timeout_secs")]
    pub read_timeout_secs: u64,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            max_concurrent: defaults::max_concurrent(),
            bandwidth_limit_bytes_per_sec: defaults::bandwidth_limit(),
            allowed_url_hosts: Vec::new(),
            progress_interval_secs: defaults::progress_interval_secs(),
            max_retries: defaults::max_retries(),
            retry_initial_backoff_ms: defaults::retry_initial_backoff_ms(),
            retry_max_backoff_secs: defaults::retry_max_backoff_secs(),
            connect_timeout_secs: defaults::connect_timeout_secs(),
            read_timeout_secs: defaults::read_timeout_secs(),
        }
    }
}

impl TransferConfig {
    /// Every problem of values serde accepted, as `transfer.KEY: what`.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.max_concurrent == 0 {
            problems.push("transfer.max_concurrent: must be at least 1".into());
        }
        if self.progress_interval_secs == 0 {
            problems.push("transfer.progress_interval_secs: must be at least 1".into());
        }
        if self.retry_initial_backoff_ms == 0 {
            problems.push("transfer.retry_initial_backoff_ms: must be at least 1".into());
        }
        if self.connect_timeout_secs == 0 || self.read_timeout_secs == 0 {
            problems.push(
                "transfer.connect_timeout_secs / read_timeout_secs: must be at least 1".into(),
            );
        }
        for entry in &self.allowed_url_hosts {
            if super::validate::entry_origins(entry).is_empty() {
                problems.push(format!(
                    "transfer.allowed_url_hosts: {entry:?} is neither an origin (http[s]://host[:port]) nor a host name"
                ));
            }
        }
        problems
    }

    /// The bandwidth cap, `None` when unlimited.
    pub fn bandwidth_limit(&self) -> Option<u64> {
        Some(self.bandwidth_limit_bytes_per_sec.as_u64()).filter(|&b| b > 0)
    }

    /// `progress_interval_secs` as a duration.
    pub fn progress_interval(&self) -> Duration {
        Duration::from_secs(self.progress_interval_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::sinks::TargetsConfig;
    use std::path::PathBuf;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        transfer: TransferConfig,
        #[serde(default)]
        targets: TargetsConfig,
    }

    fn parse(text: &str) -> Result<File, String> {
        config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize::<File>())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_apply_to_an_empty_file() {
        let f = parse("").unwrap();
        assert_eq!(f.transfer, TransferConfig::default());
        assert_eq!(f.transfer.bandwidth_limit(), None);
        assert_eq!(f.targets, TargetsConfig::default());
        assert!(f.transfer.validate().is_empty());
    }

    #[test]
    fn human_and_integer_bandwidth() {
        let f = parse("[transfer]\nbandwidth_limit_bytes_per_sec = \"50MiB\"\n").unwrap();
        assert_eq!(f.transfer.bandwidth_limit(), Some(50 * 1024 * 1024));
        let f = parse("[transfer]\nbandwidth_limit_bytes_per_sec = 1000\n").unwrap();
        assert_eq!(f.transfer.bandwidth_limit(), Some(1000));
        assert!(parse("[transfer]\nbandwidth_limit_bytes_per_sec = \"fast\"\n").is_err());
    }

    #[test]
    fn targets_and_unknown_keys() {
        let f =
            parse("[targets.local]\nroot = \"/srv/b\"\n[targets.nas]\nroot = \"mnt\"\n").unwrap();
        assert_eq!(f.targets.local.unwrap().root, PathBuf::from("/srv/b"));
        let f = parse("[targets.nas]\nroot = \"mnt\"\n").unwrap();
        assert_eq!(
            f.targets.build().unwrap_err(),
            vec!["targets.nas.root: must be an absolute path".to_string()]
        );
        assert!(parse("[transfer]\nmax_concurent = 3\n").is_err());
        assert!(parse("[targets.local]\nroot = \"/x\"\nsize = 1\n").is_err());
    }

    #[test]
    fn bad_values_are_all_reported() {
        let f = parse(
            "[transfer]\nmax_concurrent = 0\nprogress_interval_secs = 0\nallowed_url_hosts = [\"ftp://x\"]\n",
        )
        .unwrap();
        assert_eq!(f.transfer.validate().len(), 3);
    }
}

//! [`Downloader`]: what the agent holds to run download tasks: the
//! configured targets, one HTTP client, the concurrency limit and the
//! shared bandwidth limit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::config::{TargetsConfig, TransferConfig};
use super::error::TransferError;
use super::pipeline::{self, DownloadOutcome, Job, Options, RetryPolicy};
use super::progress::ProgressFn;
use super::sinks::credentials::CredentialError;
use super::sinks::ftp::FtpTarget;
use super::sinks::local::LocalTarget;
use super::sinks::minio::MinioTarget;
use super::sinks::nas::NasTarget;
use super::sinks::Target;
use super::source::HttpSource;
use super::throttle::Throttle;
use super::validate::{validate, DownloadTask, ValidateError};

/// Runs download tasks under the `[transfer]` limits.
pub struct Downloader {
    config: TransferConfig,
    client: reqwest::Client,
    targets: BTreeMap<String, Arc<dyn Target>>,
    slots: Arc<Semaphore>,
    throttle: Option<Arc<Throttle>>,
}

/// The HTTP client downloads use: timeouts from `config`, no redirects (a
/// redirect could lead to an origin `allowed_url_hosts` does not allow), no
/// proxy from the environment (a systemd service has none either).
pub fn http_client(config: &TransferConfig) -> Result<reqwest::Client, TransferError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
        .read_timeout(Duration::from_secs(config.read_timeout_secs))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("dbs-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| TransferError::Client(e.to_string()))
}

impl Downloader {
    /// A downloader with the targets configured in `targets`.
    pub fn new(config: TransferConfig, targets: &TargetsConfig) -> Result<Self, TransferError> {
        let client = http_client(&config)?;
        let mut map: BTreeMap<String, Arc<dyn Target>> = BTreeMap::new();
        if let Some(local) = &targets.local {
            map.insert("local".into(), Arc::new(LocalTarget::new(&local.root)));
        }
        if let Some(nas) = &targets.nas {
            map.insert("nas".into(), Arc::new(NasTarget::new(&nas.root)));
        }
        let remote = |e: CredentialError| TransferError::Client(e.to_string());
        if let Some(ftp) = &targets.ftp {
            map.insert("ftp".into(), Arc::new(FtpTarget::new(ftp).map_err(remote)?));
        }
        if let Some(minio) = &targets.minio {
            map.insert(
                "minio".into(),
                Arc::new(MinioTarget::new(minio).map_err(remote)?),
            );
        }
        Ok(Downloader {
            slots: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            throttle: config.bandwidth_limit().map(|b| Arc::new(Throttle::new(b))),
            config,
            client,
            targets: map,
        })
    }

    /// Adds (or replaces) the target for `location` (`ftp`, `minio`).
    pub fn with_target(mut self, location: &str, target: Arc<dyn Target>) -> Self {
        self.targets.insert(location.to_owned(), target);
        self
    }

    /// The configured locations.
    pub fn locations(&self) -> Vec<&str> {
        self.targets.keys().map(String::as_str).collect()
    }

    /// The target for `location`, if configured.
    pub fn target(&self, location: &str) -> Option<&Arc<dyn Target>> {
        self.targets.get(location)
    }

    /// Checks `task`, waits for a free slot, and downloads it. `control` is
    /// the control plane's URL, whose origin is the only one allowed when
    /// `transfer.allowed_url_hosts` is empty. Returns when the set is
    /// committed, the download failed, or `cancel` fired (partial kept).
    pub async fn run(
        &self,
        task: &DownloadTask,
        control: &str,
        progress: ProgressFn,
        cancel: &CancellationToken,
    ) -> Result<DownloadOutcome, TransferError> {
        let valid = validate(
            task,
            &self.locations(),
            &self.config.allowed_url_hosts,
            control,
        )?;
        let target = self.targets.get(&valid.location).cloned().ok_or_else(|| {
            ValidateError::UnknownLocation {
                location: valid.location.clone(),
                configured: self.locations().join(", "),
            }
        })?;
        let _slot = tokio::select! {
            _ = cancel.cancelled() => return Err(TransferError::Cancelled),
            slot = self.slots.clone().acquire_owned() => {
                slot.map_err(|e| TransferError::Client(e.to_string()))?
            }
        };
        let job = Job {
            source: HttpSource::new(self.client.clone(), valid.url),
            target: target.as_ref(),
            path: valid.path,
            size: Some(valid.size),
            checksum: Some(valid.checksum),
        };
        pipeline::download(job, &self.options(), progress, cancel).await
    }

    fn options(&self) -> Options {
        options_from(&self.config, self.throttle.clone())
    }
}

/// Pipeline options from `[transfer]`.
pub(crate) fn options_from(config: &TransferConfig, throttle: Option<Arc<Throttle>>) -> Options {
    Options {
        retry: RetryPolicy {
            max_retries: config.max_retries,
            initial_backoff: Duration::from_millis(config.retry_initial_backoff_ms),
            max_backoff: Duration::from_secs(config.retry_max_backoff_secs),
        },
        progress_interval: config.progress_interval(),
        throttle,
    }
}

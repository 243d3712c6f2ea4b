//! [`Downloader`]: what the agent holds to run download tasks: the
//! configured targets, one HTTP client, the concurrency limit and the
//! shared bandwidth limit.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::config::TransferConfig;
use super::error::TransferError;
use super::pipeline::{self, DownloadOutcome, Job, Options, RetryPolicy};
use super::progress::ProgressFn;
use super::sinks::{Target, Targets};
use super::sources::http::HttpSource;
use super::throttle::Throttle;
use super::validate::{validate, ValidTask, ValidateError};
use crate::api::gateway::DownloadSpec;

/// Runs download tasks under the `[transfer]` limits.
pub struct Downloader {
    config: TransferConfig,
    client: reqwest::Client,
    targets: Targets,
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
    /// A downloader writing to `targets` (see `TargetsConfig::build`).
    pub fn new(config: TransferConfig, targets: Targets) -> Result<Self, TransferError> {
        Ok(Downloader {
            client: http_client(&config)?,
            slots: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            throttle: config.bandwidth_limit().map(|b| Arc::new(Throttle::new(b))),
            config,
            targets,
        })
    }

    /// Checks `task`, waits for a free slot, and downloads it. `control` is
    /// the control plane's URL, whose origin is the only one allowed when
    /// `transfer.allowed_url_hosts` is empty. Returns when the set is
    /// committed, the download failed, or `cancel` fired (partial kept).
    pub async fn run(
        &self,
        task: &DownloadSpec,
        control: &str,
        progress: ProgressFn,
        cancel: &CancellationToken,
    ) -> Result<DownloadOutcome, TransferError> {
        let locations = self.targets.locations();
        let valid = validate(task, &locations, &self.config.allowed_url_hosts, control)?;
        let target =
            self.targets
                .get(&valid.location)
                .ok_or_else(|| ValidateError::UnknownLocation {
                    location: valid.location.clone(),
                    configured: locations.join(", "),
                })?;
        self.download(&valid, target.as_ref(), progress, cancel)
            .await
    }

    /// Waits for a free slot and downloads the checked `task` from its URL
    /// into `target` through the pipeline (source → checksum → throttle →
    /// sink), under the `[transfer]` limits; `task.location` is not looked
    /// at.
    pub async fn download(
        &self,
        task: &ValidTask,
        target: &dyn Target,
        progress: ProgressFn,
        cancel: &CancellationToken,
    ) -> Result<DownloadOutcome, TransferError> {
        let _slot = tokio::select! {
            _ = cancel.cancelled() => return Err(TransferError::Cancelled),
            slot = self.slots.clone().acquire_owned() => {
                slot.map_err(|e| TransferError::Client(e.to_string()))?
            }
        };
        let source = HttpSource::new(self.client.clone(), task.url.clone());
        let job = Job {
            source: &source,
            target,
            path: &task.path,
            size: Some(task.size),
            checksum: Some(task.checksum),
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

//! The one place the tests reach the transfer API: build a target from its
//! `[targets.*]` section of gateway.toml, and download a wire
//! [`DownloadSpec`] through the pipeline the agent runs (source → checksum →
//! throttle → sink, with its retries). Tests see [`Pipeline`], [`Outcome`]
//! and [`Failure`], so a change of that API is adapted here; tests of the
//! sink contract itself use the built [`Target`] and [`write_from`].

use std::sync::Arc;

use bytes::Bytes;
use dbs_gateway::api::gateway::{DownloadSpec, SetKind};
use dbs_gateway::api::layout::RelPath;
use dbs_gateway::transfer::sinks::{SinkError, SinkWriter};
use dbs_gateway::transfer::sinks::{Targets, TargetsConfig};
use dbs_gateway::transfer::{Downloader, Progress, TransferConfig};
use tokio_util::sync::CancellationToken;

/// The sink interface a built target has (for tests of the sink contract).
pub use dbs_gateway::transfer::sinks::Target;

/// How a test download retries and how fast it may go.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// `transfer.max_retries`.
    pub max_retries: u32,
    /// `transfer.bandwidth_limit_bytes_per_sec`; 0: unlimited.
    pub bandwidth: u64,
}

impl Default for Tuning {
    /// Three quick retries, no bandwidth limit.
    fn default() -> Self {
        Tuning {
            max_retries: 3,
            bandwidth: 0,
        }
    }
}

/// A finished download, as the agent reports it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Where the set is (`local:/…`, `ftp://…`).
    pub location: String,
    /// Its size.
    pub size: u64,
    /// CRC64 of the set, decimal.
    pub crc64: String,
    /// Bytes found in a partial of an earlier run and kept.
    pub resumed_from: u64,
    /// Bytes this run received from the source.
    pub downloaded: u64,
    /// Requests made for the body.
    pub attempts: u32,
}

/// A progress report of a running download.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// Bytes of the set in the target.
    pub done: u64,
    /// Size of the set.
    pub total: u64,
    /// `done / total` in percent.
    pub percent: f64,
}

/// A failed download: the task error the agent reports.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The stable error code.
    pub code: &'static str,
    /// Whether the agent may try again.
    pub retryable: bool,
    /// The message.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The agent's download pipeline with the targets of one gateway.toml
/// `[targets.*]` text.
pub struct Pipeline {
    downloader: Downloader,
    targets: Targets,
}

impl Pipeline {
    /// The pipeline for `targets`: gateway.toml text with one or more
    /// `[targets.*]` sections.
    pub fn new(targets: &str, tuning: Tuning) -> Self {
        let parsed: toml::Table = toml::from_str(targets)
            .unwrap_or_else(|e| panic!("test [targets] do not parse: {e}\n{targets}"));
        let targets: TargetsConfig = parsed
            .get("targets")
            .cloned()
            .unwrap_or_else(|| panic!("no [targets.*] section in\n{targets}"))
            .try_into()
            .unwrap_or_else(|e| panic!("test [targets] are refused: {e}\n{targets}"));
        let transfer: TransferConfig = toml::from_str(&format!(
            "max_retries = {}\nretry_initial_backoff_ms = 10\nretry_max_backoff_secs = 1\n\
             progress_interval_secs = 1\nbandwidth_limit_bytes_per_sec = {}\n",
            tuning.max_retries, tuning.bandwidth
        ))
        .expect("test [transfer] parses");
        let targets = targets
            .build()
            .unwrap_or_else(|e| panic!("targets do not build: {e:?}"));
        let downloader = Downloader::new(transfer, targets.clone())
            .unwrap_or_else(|e| panic!("the downloader does not start: {e}"));
        Pipeline {
            downloader,
            targets,
        }
    }

    /// The target built for `location`.
    pub fn target(&self, location: &str) -> Arc<dyn Target> {
        self.targets
            .get(location)
            .unwrap_or_else(|| panic!("no target {location} configured"))
            .clone()
    }

    /// Downloads `spec` to the end; the URL's origin is taken as the
    /// control plane's.
    pub async fn run(&self, spec: &DownloadSpec) -> Result<Outcome, Failure> {
        self.download(spec, &CancellationToken::new(), |_| {}).await
    }

    /// Downloads `spec` for a control plane at `control` (whose origin is
    /// the one a set URL may have when `allowed_url_hosts` is empty).
    pub async fn run_for(&self, spec: &DownloadSpec, control: &str) -> Result<Outcome, Failure> {
        self.pipeline(spec, control, &CancellationToken::new(), |_| {})
            .await
    }

    /// Downloads `spec` until it ends or `cancel` fires; `progress` gets
    /// every progress report.
    pub async fn download(
        &self,
        spec: &DownloadSpec,
        cancel: &CancellationToken,
        progress: impl FnMut(&Report) + Send + 'static,
    ) -> Result<Outcome, Failure> {
        self.pipeline(spec, &spec.url, cancel, progress).await
    }

    async fn pipeline(
        &self,
        spec: &DownloadSpec,
        control: &str,
        cancel: &CancellationToken,
        mut progress: impl FnMut(&Report) + Send + 'static,
    ) -> Result<Outcome, Failure> {
        let report = Box::new(move |p: &Progress| {
            progress(&Report {
                done: p.done,
                total: p.total,
                percent: p.percent,
            })
        });
        match self.downloader.run(spec, control, report, cancel).await {
            Ok(outcome) => Ok(Outcome {
                location: outcome.location,
                size: outcome.size,
                crc64: outcome.checksum.value(),
                resumed_from: outcome.resumed_from,
                downloaded: outcome.downloaded,
                attempts: outcome.attempts,
            }),
            Err(e) => Err(Failure {
                code: e.code(),
                retryable: e.is_retryable(),
                message: e.to_string(),
            }),
        }
    }
}

/// A download of `data` from `url` into `location` at
/// `{dir}/{plan}/{full|increment}/{name}`, as the control plane sends it.
pub fn spec(url: &str, location: &str, dir: &str, name: &str, data: &[u8]) -> DownloadSpec {
    DownloadSpec {
        backup_set_id: "set-1".into(),
        backup_plan_id: "plan1".into(),
        kind: SetKind::Full,
        set_name: name.into(),
        url: url.into(),
        size: data.len() as u64,
        crc64: crc64(data),
        location: location.into(),
        dir: dir.into(),
    }
}

/// CRC-64/ECMA-182 of `data` as a task carries it: decimal.
pub fn crc64(data: &[u8]) -> String {
    let mut crc = crc64fast::Digest::new();
    crc.write(data);
    crc.sum64().to_string()
}

/// Writes `data[from..]` to `writer` in `chunk`-sized pieces, as the
/// pipeline feeds a sink (for tests of the sink contract itself).
pub async fn write_from(
    writer: &mut Box<dyn SinkWriter>,
    data: &[u8],
    from: usize,
    chunk: usize,
) -> Result<(), SinkError> {
    for piece in data[from..].chunks(chunk) {
        writer.write(Bytes::copy_from_slice(piece)).await?;
    }
    Ok(())
}

/// The set's path inside a target: `{dir}/{plan}/{full|increment}/{name}`.
pub fn layout(dir: &str, plan: &str, kind: &str, name: &str) -> RelPath {
    RelPath::parse("test", &format!("{dir}/{plan}/{kind}/{name}")).expect("valid test path")
}

//! The one-shot download command (`dbs-gateway download URL --to
//! local:/path`): one URL into a local or NAS path, with a progress bar
//! when stderr is a terminal, and Ctrl-C keeping the partial for a rerun.
//!
//! `--to KIND:PATH`: when PATH is an existing directory the file is named
//! after the URL's last path segment; otherwise PATH is the file and its
//! directory is the target root. For `nas:` that root must be a mount point.
//! `--to ftp:[ROOT]` and `--to minio:[BUCKET[/PREFIX]]` write to the servers
//! of `[targets.ftp]` / `[targets.minio]` (the file named after the URL).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use super::checksum::Checksum;
use super::config::TransferConfig;
use super::downloader::{http_client, options_from};
use super::error::TransferError;
use super::pipeline::{self, DownloadOutcome, Job, Options};
use super::progress::{Progress, ProgressFn};
use super::sinks::local::LocalTargetConfig;
use super::sinks::nas::NasTargetConfig;
use super::sinks::{BuildError, SinkConfig, Target, TargetsConfig};
use super::sources::http::HttpSource;
use super::throttle::Throttle;
use super::validate::{check_url, ValidateError};
use crate::api::layout::RelPath;

/// Downloads `url` to `to` (`local:/path` or `nas:/path`), verifying
/// `checksum` and `size` when given, at most `bandwidth_limit` bytes per
/// second. Prints `ALGORITHM:CHECKSUM  LOCATION` on stdout when done, a
/// summary on stderr.
pub async fn run_download_cli(
    url: &str,
    to: &str,
    checksum: Option<Checksum>,
    size: Option<u64>,
    bandwidth_limit: Option<u64>,
    targets: Option<&TargetsConfig>,
) -> Result<DownloadOutcome, TransferError> {
    // The command line names the URL itself: its own origin is allowed.
    let url = check_url(url, &[], url)?;
    let (target, name) = open_destination(to, &url, targets)?;
    let config = TransferConfig::default();
    let throttle = bandwidth_limit
        .filter(|&b| b > 0)
        .map(|b| Arc::new(Throttle::new(b)));
    let mut options = options_from(&config, throttle);
    let (console, progress) = Console::start(&mut options);
    let source = HttpSource::new(http_client(&config)?, url);
    let job = Job {
        source: &source,
        target: target.as_ref(),
        path: &name,
        size,
        checksum,
    };
    let result = pipeline::download(job, &options, progress, &console.cancel).await;
    console.finish();
    let outcome = result?;
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "{} bytes in {:.2} s ({:.1} MB/s), {} resumed, {} downloaded, {} request(s)",
        outcome.size,
        secs,
        outcome.downloaded as f64 / secs / 1e6,
        outcome.resumed_from,
        outcome.downloaded,
        outcome.attempts
    );
    println!("{}  {}", outcome.checksum, outcome.location);
    Ok(outcome)
}

/// The target and file name `--to` names; remote kinds need their config.
fn open_destination(
    to: &str,
    url: &reqwest::Url,
    targets: Option<&TargetsConfig>,
) -> Result<(Box<dyn Target>, RelPath), TransferError> {
    let remote = |kind: &str| ValidateError::UnknownLocation {
        location: to.to_owned(),
        configured: format!("{kind}: needs --config with a [targets.{kind}] section"),
    };
    let built = |e: BuildError| TransferError::Client(e.to_string());
    let target: Box<dyn Target> = match to.split_once(':').map(|(kind, _)| kind) {
        Some("ftp") => {
            let config = targets
                .and_then(|t| t.ftp.as_ref())
                .ok_or_else(|| remote("ftp"))?;
            Box::new(config.for_spec(to).build().map_err(built)?)
        }
        Some("minio") => {
            let config = targets
                .and_then(|t| t.minio.as_ref())
                .ok_or_else(|| remote("minio"))?;
            Box::new(config.for_spec(to).build().map_err(built)?)
        }
        _ => {
            let (kind, root, name) = destination(to, url)?;
            let target: Box<dyn Target> = match kind {
                "nas" => Box::new(NasTargetConfig { root }.build().map_err(built)?),
                _ => Box::new(LocalTargetConfig { root }.build().map_err(built)?),
            };
            return Ok((target, name));
        }
    };
    Ok((target, url_file_name(url)?))
}

/// The URL's last path segment, decoded, as a file name.
fn url_file_name(url: &reqwest::Url) -> Result<RelPath, TransferError> {
    let last = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(last).decode_utf8_lossy();
    Ok(RelPath::component("URL file name", &decoded).map_err(ValidateError::Path)?)
}

/// Splits `KIND:PATH` into the target kind, its root and the file's name.
fn destination(
    to: &str,
    url: &reqwest::Url,
) -> Result<(&'static str, PathBuf, RelPath), TransferError> {
    let bad = || ValidateError::UnknownLocation {
        location: to.to_owned(),
        configured: "local:/path, nas:/path, ftp:[root], minio:[bucket[/prefix]]".into(),
    };
    let (kind, path) = to.split_once(':').ok_or_else(bad)?;
    let kind = match kind {
        "local" => "local",
        "nas" => "nas",
        _ => return Err(bad().into()),
    };
    let path = Path::new(path);
    if !path.is_absolute() {
        return Err(
            ValidateError::Path(crate::api::layout::PathError::Absolute {
                field: "--to",
                value: format!("{} (must be absolute)", path.display()),
            })
            .into(),
        );
    }
    if path.is_dir() {
        return Ok((kind, path.to_path_buf(), url_file_name(url)?));
    }
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy())
        .unwrap_or_default();
    let name = RelPath::component("--to file name", &file).map_err(ValidateError::Path)?;
    let root = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    Ok((kind, root, name))
}

/// What a one-shot command shows while it runs, and Ctrl-C stopping it.
pub struct Console {
    /// Cancelled by Ctrl-C.
    pub cancel: CancellationToken,
    bar: Option<ProgressBar>,
    ctrl_c: tokio::task::JoinHandle<()>,
}

impl Console {
    /// A progress bar on a terminal (with reports every 200 ms), plain
    /// lines on stderr otherwise; Ctrl-C cancels [`Console::cancel`].
    pub fn start(options: &mut Options) -> (Console, ProgressFn) {
        let terminal = std::io::stderr().is_terminal();
        if terminal {
            options.progress_interval = Duration::from_millis(200);
        }
        let (progress, bar) = progress_reporter(terminal);
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        let ctrl_c = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        let console = Console {
            cancel,
            bar,
            ctrl_c,
        };
        (console, progress)
    }

    /// Stops listening for Ctrl-C and clears the bar.
    pub fn finish(self) {
        self.ctrl_c.abort();
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A progress bar on a terminal; plain lines on stderr otherwise.
fn progress_reporter(terminal: bool) -> (ProgressFn, Option<ProgressBar>) {
    if terminal {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {percent}% {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let handle = bar.clone();
        let report = Box::new(move |p: &Progress| {
            // A stream (a backup being taken) has no total until it ends.
            if p.total > 0 {
                handle.set_length(p.total);
            }
            handle.set_position(p.done);
        });
        (report, Some(bar))
    } else {
        let report = Box::new(|p: &Progress| {
            let rate = p.rate_bytes_per_sec as f64 / 1e6;
            if p.total > 0 {
                eprintln!(
                    "{} / {} bytes ({:.1}%), {rate:.1} MB/s",
                    p.done, p.total, p.percent
                );
            } else {
                eprintln!("{} bytes, {rate:.1} MB/s", p.done);
            }
        });
        (report, None)
    }
}

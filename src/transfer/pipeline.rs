//! One download: source → checksum → throttle → sink, in bounded
//! memory, resumed from what the sink holds, retried with backoff, and
//! committed only when size and checksum match ([`download`]); or one
//! one-pass stream of unknown size, such as a backup being taken, stored
//! through the same steps ([`store`]).
//!
//! Memory: one source chunk is in flight at a time; the next is read only
//! after the sink accepted the previous one, so RSS does not grow with the
//! size of the set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::checksum::{Checksum, Hasher};
use super::error::TransferError;
use super::progress::{ProgressFn, ProgressMeter};
use super::sinks::{SinkError, SinkWriter, Target};
use super::sources::{ByteStream, Source, SourceError};
use super::throttle::Throttle;
use crate::api::layout::RelPath;

/// The two ends of one download and what the bytes must be.
pub struct Job<'a> {
    /// Where the bytes come from.
    pub source: &'a dyn Source,
    /// Where they go.
    pub target: &'a dyn Target,
    /// Path inside the target.
    pub path: &'a RelPath,
    /// Size of the set; `None` asks the server (`HEAD`).
    pub size: Option<u64>,
    /// Expected checksum; `None` only computes a CRC64.
    pub checksum: Option<Checksum>,
}

/// How failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Failed attempts in a row (no byte gained) before giving up.
    pub max_retries: u32,
    /// Wait before the first retry; doubles each time.
    pub initial_backoff: Duration,
    /// Longest wait.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `n` (1-based): exponential, capped, with
    /// jitter between half and all of it so many agents do not retry in step.
    pub fn backoff(&self, n: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << n.saturating_sub(1).min(20));
        let cap = exp.min(self.max_backoff);
        let jitter = rand::rng().random_range(0.5..=1.0);
        cap.mul_f64(jitter)
    }
}

/// Knobs of a download.
pub struct Options {
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Time between progress reports.
    pub progress_interval: Duration,
    /// Shared bandwidth limit, if any.
    pub throttle: Option<Arc<Throttle>>,
}

/// A finished download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOutcome {
    /// Where the set is now (`local:/srv/…`).
    pub location: String,
    /// Size in bytes.
    pub size: u64,
    /// Checksum of the set (the expected one's algorithm).
    pub checksum: Checksum,
    /// Bytes found in a partial from an earlier attempt and kept.
    pub resumed_from: u64,
    /// Bytes read from the source by this call.
    pub downloaded: u64,
    /// Opens of the source (HTTP requests) for the body.
    pub attempts: u32,
    /// Wall time of the call.
    pub elapsed: Duration,
}

/// State of one download between attempts.
struct Run<'a> {
    source: &'a dyn Source,
    target: &'a dyn Target,
    path: &'a RelPath,
    writer: Box<dyn SinkWriter>,
    hasher: Hasher,
    meter: ProgressMeter,
    validator: Option<String>,
    throttle: Option<Arc<Throttle>>,
    size: u64,
    downloaded: u64,
}

/// Runs `job` to the end: committed, failed, or cancelled. On failure and
/// cancellation the partial is kept when it can be resumed (see
/// `TransferError::keeps_partial`), and never appears at the final name.
pub async fn download(
    job: Job<'_>,
    options: &Options,
    progress: ProgressFn,
    cancel: &CancellationToken,
) -> Result<DownloadOutcome, TransferError> {
    let started = Instant::now();
    let location = job.target.describe(job.path);
    job.target.check().await?;
    let size = match job.size {
        Some(size) => size,
        None => job.source.size().await?,
    };
    // Opening may wait for another run of the same set to let go of its
    // partial; a shutdown stops the wait.
    let mut writer = tokio::select! {
        opened = job.target.open(job.path, Some(size)) => opened?,
        _ = cancel.cancelled() => return Err(TransferError::Cancelled),
    };
    if let Err(e) = ensure_room(job.target, &location, size - writer.offset()).await {
        abort(writer, false).await;
        return Err(e);
    }
    let mut hasher = Hasher::for_expected(job.checksum.as_ref());
    let resumed_from = match resume_hash(writer.as_mut(), &mut hasher, cancel).await {
        Ok(n) => n,
        Err(e) => {
            abort(writer, e.keeps_partial()).await;
            return Err(e);
        }
    };
    tracing::info!(%location, url = job.source.shown(), size, resumed_from, "download starts");
    let mut run = Run {
        source: job.source,
        target: job.target,
        path: job.path,
        writer,
        hasher,
        meter: ProgressMeter::new(progress, options.progress_interval, size),
        validator: None,
        throttle: options.throttle.clone(),
        size,
        downloaded: 0,
    };
    run.meter.reset_to(resumed_from);
    let attempts = match run.fetch_all(&options.retry, cancel).await {
        Ok(attempts) => attempts,
        Err(e) => {
            abort(run.writer, e.keeps_partial()).await;
            return Err(e);
        }
    };
    let actual = run.hasher.finish();
    if let Some(expected) = job.checksum.filter(|&expected| expected != actual) {
        abort(run.writer, false).await;
        return Err(TransferError::ChecksumMismatch {
            location,
            expected,
            actual,
        });
    }
    run.writer.commit().await?;
    run.meter.finish();
    let outcome = DownloadOutcome {
        location,
        size,
        checksum: actual,
        resumed_from,
        downloaded: run.downloaded,
        attempts,
        elapsed: started.elapsed(),
    };
    tracing::info!(location = %outcome.location, downloaded = outcome.downloaded,
        attempts, secs = outcome.elapsed.as_secs_f64(), "download committed");
    Ok(outcome)
}

/// Stores a one-pass stream (a backup being taken: its size is known only
/// at its end, and it cannot be read again): source → checksum → throttle
/// → sink, committed when the stream ends without an error. Any failure
/// aborts the writer and removes the partial; nothing is retried, since the
/// bytes cannot be asked for again.
pub async fn store(
    source: &dyn Source,
    target: &dyn Target,
    path: &RelPath,
    options: &Options,
    progress: ProgressFn,
    cancel: &CancellationToken,
) -> Result<DownloadOutcome, TransferError> {
    let started = Instant::now();
    let location = target.describe(path);
    target.check().await?;
    let mut writer = tokio::select! {
        opened = target.open(path, None) => opened?,
        _ = cancel.cancelled() => return Err(TransferError::Cancelled),
    };
    if writer.offset() > 0 {
        // A partial of an earlier run of this set that was killed.
        writer.restart().await?;
    }
    tracing::info!(%location, source = source.shown(), "stream starts");
    let mut run = Run {
        source,
        target,
        path,
        writer,
        hasher: Hasher::for_expected(None),
        meter: ProgressMeter::new(progress, options.progress_interval, 0),
        validator: None,
        throttle: options.throttle.clone(),
        size: 0,
        downloaded: 0,
    };
    let copied = match source.open(0, None).await {
        Ok(mut body) => run.copy(&mut body.bytes, None, cancel).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = copied {
        abort(run.writer, false).await;
        return Err(e);
    }
    let size = run.writer.offset();
    run.writer.commit().await?;
    run.meter.finish();
    let outcome = DownloadOutcome {
        location,
        size,
        checksum: run.hasher.finish(),
        resumed_from: 0,
        downloaded: run.downloaded,
        attempts: 1,
        elapsed: started.elapsed(),
    };
    tracing::info!(location = %outcome.location, size, secs = outcome.elapsed.as_secs_f64(),
        "stream committed");
    Ok(outcome)
}

/// Refuses early when the target reports less room than `needed`.
async fn ensure_room(
    target: &dyn Target,
    location: &str,
    needed: u64,
) -> Result<(), TransferError> {
    match target.free_space().await? {
        Some(available) if available < needed => Err(SinkError::NoSpace {
            target: target.kind(),
            location: location.to_owned(),
            needed,
            available,
        }
        .into()),
        _ => Ok(()),
    }
}

/// Hashes the partial's bytes, or restarts the writer when the target
/// cannot read them back (or reading fails). Returns the bytes kept.
async fn resume_hash(
    writer: &mut dyn SinkWriter,
    hasher: &mut Hasher,
    cancel: &CancellationToken,
) -> Result<u64, TransferError> {
    if writer.offset() == 0 {
        return Ok(0);
    }
    let Some(mut stream) = writer.read_back().await.unwrap_or(None) else {
        writer.restart().await?;
        return Ok(0);
    };
    let mut seen = 0u64;
    loop {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(TransferError::Cancelled),
            next = stream.next() => next,
        };
        match next {
            Some(Ok(chunk)) => {
                hasher.update(&chunk);
                seen += chunk.len() as u64;
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the partial back; starting over");
                break;
            }
            None => break,
        }
    }
    if seen != writer.offset() {
        hasher.reset();
        writer.restart().await?;
        return Ok(0);
    }
    Ok(seen)
}

/// Aborts a writer after a failure; an error here is only logged, the
/// original failure is what the caller reports.
async fn abort(writer: Box<dyn SinkWriter>, keep_partial: bool) {
    if let Err(e) = writer.abort(keep_partial).await {
        tracing::warn!(error = %e, keep_partial, "cannot clean up the partial");
    }
}

impl Run<'_> {
    /// Requests until the writer holds `size` bytes; returns the number of
    /// requests made.
    async fn fetch_all(
        &mut self,
        retry: &RetryPolicy,
        cancel: &CancellationToken,
    ) -> Result<u32, TransferError> {
        let mut attempts = 0u32;
        let mut failures = 0u32;
        let mut reopen = false;
        while reopen || self.writer.offset() < self.size {
            let before = self.writer.offset();
            let result = if reopen {
                self.reopen(cancel).await
            } else {
                attempts += 1;
                self.fetch_once(cancel).await
            };
            let err = match result {
                Ok(()) => {
                    reopen = false;
                    continue;
                }
                Err(e) => e,
            };
            if !err.is_retryable() || matches!(err, TransferError::Cancelled) {
                return Err(err);
            }
            // A failed write may have been hashed, or counted by the writer,
            // without reaching the target: the next step opens the writer
            // again and goes on from what the target really holds.
            reopen = reopen || matches!(err, TransferError::Sink(_));
            if self.writer.offset() > before {
                failures = 0;
            }
            failures += 1;
            if failures > retry.max_retries {
                return Err(TransferError::RetriesExhausted {
                    attempts,
                    last: Box::new(err),
                });
            }
            let wait = retry.backoff(failures);
            tracing::warn!(error = %err, offset = self.writer.offset(),
                wait_ms = wait.as_millis() as u64, "download interrupted; resuming");
            tokio::select! {
                _ = cancel.cancelled() => return Err(TransferError::Cancelled),
                _ = tokio::time::sleep(wait) => {}
            }
        }
        Ok(attempts)
    }

    /// Ends the writer keeping its partial, opens it again and hashes what
    /// it holds, so offset, hash and target agree again.
    async fn reopen(&mut self, cancel: &CancellationToken) -> Result<(), TransferError> {
        abort(
            std::mem::replace(&mut self.writer, Box::new(Detached)),
            true,
        )
        .await;
        let mut fresh = tokio::select! {
            opened = self.target.open(self.path, Some(self.size)) => opened?,
            _ = cancel.cancelled() => return Err(TransferError::Cancelled),
        };
        self.hasher.reset();
        if let Err(e) = resume_hash(fresh.as_mut(), &mut self.hasher, cancel).await {
            abort(fresh, e.keeps_partial()).await;
            return Err(e);
        }
        self.meter.reset_to(fresh.offset());
        self.writer = fresh;
        Ok(())
    }

    /// One request from the writer's offset to the end of the body.
    async fn fetch_once(&mut self, cancel: &CancellationToken) -> Result<(), TransferError> {
        let offset = self.writer.offset();
        let opened = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(TransferError::Cancelled),
            opened = self.source.open(offset, self.validator.as_deref()) => opened,
        };
        let mut body = opened?;
        if let Some(total) = body.total.filter(|&t| t != self.size) {
            return Err(self.size_mismatch(total));
        }
        if body.start == 0 && offset > 0 {
            // The server ignored Range, or If-Range found a changed object:
            // the body is the whole set, so start over.
            tracing::warn!(offset, "server sent the whole set; restarting from zero");
            self.writer.restart().await?;
            self.hasher.reset();
            self.meter.reset_to(0);
        }
        if body.validator.is_some() {
            self.validator = body.validator.take();
        }
        self.copy(&mut body.bytes, Some(self.size), cancel).await?;
        if self.writer.offset() < self.size {
            return Err(SourceError::Incomplete {
                url: self.source.shown().to_owned(),
                got: self.writer.offset(),
                expected: self.size,
            }
            .into());
        }
        Ok(())
    }

    /// Hashes, throttles and writes every chunk of `bytes`; more than
    /// `limit` bytes in the writer is a size mismatch.
    async fn copy(
        &mut self,
        bytes: &mut ByteStream,
        limit: Option<u64>,
        cancel: &CancellationToken,
    ) -> Result<(), TransferError> {
        loop {
            // Only the read and the throttle wait are cancelled: a write
            // that was started always completes, so offset and file agree.
            let chunk = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(TransferError::Cancelled),
                chunk = bytes.next() => chunk.transpose()?,
            };
            let Some(chunk) = chunk else { return Ok(()) };
            let len = chunk.len() as u64;
            let end = self.writer.offset() + len;
            if limit.is_some_and(|limit| end > limit) {
                return Err(self.size_mismatch(end));
            }
            if let Some(throttle) = &self.throttle {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return Err(TransferError::Cancelled),
                    _ = throttle.acquire(chunk.len()) => {}
                }
            }
            self.hasher.update(&chunk);
            self.writer.write(chunk).await?;
            self.downloaded += len;
            self.meter.add(len);
        }
    }

    fn size_mismatch(&self, actual: u64) -> TransferError {
        SourceError::SizeMismatch {
            url: self.source.shown().to_owned(),
            expected: self.size,
            actual,
        }
        .into()
    }
}

/// The writer slot of a [`Run`] between aborting a writer and opening its
/// successor; if opening fails, the run ends and this is what it aborts.
struct Detached;

#[async_trait::async_trait]
impl SinkWriter for Detached {
    fn offset(&self) -> u64 {
        0
    }

    async fn restart(&mut self) -> Result<(), SinkError> {
        Err(detached())
    }

    async fn write(&mut self, _chunk: bytes::Bytes) -> Result<(), SinkError> {
        Err(detached())
    }

    async fn commit(self: Box<Self>) -> Result<(), SinkError> {
        Err(detached())
    }

    async fn abort(self: Box<Self>, _keep_partial: bool) -> Result<(), SinkError> {
        Ok(())
    }
}

fn detached() -> SinkError {
    SinkError::io(
        "pipeline",
        "",
        std::io::Error::other("the writer was closed"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = p.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = p.backoff(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            assert!(p.backoff(30) <= Duration::from_secs(1));
        }
    }
}

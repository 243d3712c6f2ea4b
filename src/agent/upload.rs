//! The control plane as a [`Target`]: a set being taken is uploaded on
//! [`crate::api::gateway::UPLOAD_ROUTE`], chunk by chunk, each request
//! signed with the agent's AccessKey (by [`ControlClient::signed`]).
//!
//! The writer fills one chunk ([`CHUNK_BYTES`]) while the previous one is
//! being `PUT` with its CRC64, so the backup is read while the control plane
//! writes: at most two chunks are held, whatever the set's size. A chunk is
//! held as the frames the pipeline wrote (shared, not copied) and sent as
//! they are. A transient failure (connection reset, timeout, 5xx) is
//! retried with backoff after asking (`GET`) how many bytes the control
//! plane holds: a chunk that arrived but whose answer was lost is not sent
//! twice, one held in part (the control plane stopped while writing it)
//! goes on from there. A full data dir on the control plane
//! (`Upload.StorageFull`) is not retried: the backup fails at once.
//! `commit` sends the last chunk and completes the set (`POST`) with its
//! size and the CRC64 of all its bytes. The writer does not read back: a
//! set is always uploaded from its start (`restart` sends an empty chunk at
//! offset 0, which discards what an earlier attempt left).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::Method;
use serde::de::DeserializeOwned;

use super::client::{self, ClientError, ControlClient};
use crate::api::gateway::{
    upload_param, upload_path, UploadComplete, UploadState, MAX_UPLOAD_CHUNK_BYTES, UPLOAD_ACTION,
};
use crate::api::layout::RelPath;
use crate::crc64::Crc64;
use crate::frames::Frames;
use crate::transfer::pipeline::RetryPolicy;
use crate::transfer::sinks::{SinkError, SinkWriter, Target};

/// Bytes one `PUT` carries (the last one fewer).
pub const CHUNK_BYTES: usize = 8 << 20;

const _: () = assert!(CHUNK_BYTES as u64 <= MAX_UPLOAD_CHUNK_BYTES);

/// What [`Target::kind`] says.
const KIND: &str = "control";

/// The control plane's code for a full data dir.
const STORAGE_FULL: &str = "Upload.StorageFull";

/// Whether a failed request may succeed if sent again: a full data dir on
/// the control plane waits for someone to free it, so it is not.
fn transient(error: &ClientError) -> bool {
    error.is_retryable() && error.code() != Some(STORAGE_FULL)
}

/// Extra time a request with a chunk may take beyond the client's timeout.
const CHUNK_EXTRA_WAIT: Duration = Duration::from_secs(60);

/// Uploads one set to the control plane.
#[derive(Clone)]
pub struct UploadTarget {
    client: ControlClient,
    url: reqwest::Url,
    retry: RetryPolicy,
}

impl UploadTarget {
    /// The upload of `set_id` on the control plane of `client`, transient
    /// failures retried by `retry`.
    pub fn new(client: ControlClient, set_id: &str, retry: RetryPolicy) -> Result<Self, SinkError> {
        let path = upload_path(set_id);
        let url = client
            .endpoint()
            .join(path.trim_start_matches('/'))
            .map_err(|e| SinkError::Unusable {
                target: KIND,
                location: path,
                reason: e.to_string(),
            })?;
        Ok(UploadTarget { client, url, retry })
    }

    fn failed(&self, error: &ClientError) -> SinkError {
        if error.code() == Some(STORAGE_FULL) {
            return SinkError::NoSpace {
                target: KIND,
                location: self.url.to_string(),
                needed: 0,
                available: 0,
            };
        }
        SinkError::Remote {
            target: KIND,
            location: self.url.to_string(),
            message: error.to_string(),
            retryable: transient(error),
        }
    }

    /// One signed request; its JSON answer.
    async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        params: &[(&str, String)],
        chunk: Option<Frames>,
    ) -> Result<T, ClientError> {
        let mut url = self.url.clone();
        url.query_pairs_mut().extend_pairs(self.client.signed(
            method.as_str(),
            UPLOAD_ACTION,
            params,
        ));
        let mut request = self
            .client
            .http()
            .request(method, url)
            .timeout(self.client.timeout() + CHUNK_EXTRA_WAIT);
        if let Some(chunk) = chunk {
            request = request
                .header("content-type", "application/octet-stream")
                .header("content-length", chunk.len())
                .body(body(chunk));
        }
        let response = request
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.without_url().to_string()))?;
        client::answer(response).await
    }

    /// Waits before retry number `failures`, or gives up with `error`.
    async fn pause(&self, failures: u32, error: &ClientError) -> Result<(), SinkError> {
        if failures > self.retry.max_retries {
            return Err(self.failed(error));
        }
        let wait = self.retry.backoff(failures);
        tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, "upload request failed; retrying");
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Bytes the control plane holds, retried while it is away.
    async fn held(&self) -> Result<u64, SinkError> {
        self.state().await.map(|state| state.offset)
    }

    /// The set as recorded, when its upload was completed already (by an
    /// attempt stopped before it could report it).
    pub async fn completed(&self) -> Result<Option<UploadComplete>, SinkError> {
        self.state().await.map(|state| state.completed)
    }

    /// What the control plane holds, retried while it is away.
    async fn state(&self) -> Result<UploadState, SinkError> {
        let mut failures = 0;
        loop {
            match self.request::<UploadState>(Method::GET, &[], None).await {
                Ok(state) => return Ok(state),
                Err(e) if transient(&e) => {
                    failures += 1;
                    self.pause(failures, &e).await?;
                }
                Err(e) => return Err(self.failed(&e)),
            }
        }
    }

    /// Stores `chunk` (of CRC64 `crc64`) at `offset`; the bytes held after
    /// it. After a failure the control plane is asked what it holds: a
    /// chunk that arrived whole is not sent again, and one it holds a part
    /// of (it was stopped while writing) goes on from there. A chunk at 0
    /// is sent again whole (it discards what is held).
    async fn put(&self, offset: u64, chunk: Frames, crc64: u64) -> Result<u64, SinkError> {
        let end = offset + chunk.len() as u64;
        let mut at = offset;
        let mut failures = 0;
        loop {
            let rest = chunk.skip((at - offset) as usize);
            let rest_crc64 = if at == offset { crc64 } else { rest.crc64() };
            let params = [
                (upload_param::OFFSET, at.to_string()),
                (upload_param::CHUNK_CRC64, rest_crc64.to_string()),
            ];
            let error = match self
                .request::<UploadState>(Method::PUT, &params, Some(rest))
                .await
            {
                Ok(state) => return Ok(state.offset),
                Err(e) => e,
            };
            let passing = transient(&error);
            if !passing && error.code() != Some("Upload.OffsetMismatch") {
                return Err(self.failed(&error));
            }
            failures += 1;
            if passing {
                self.pause(failures, &error).await?;
            } else if failures > self.retry.max_retries {
                return Err(self.failed(&error));
            }
            if offset == 0 {
                // What is held may be an earlier attempt's: a chunk at 0
                // discards it, so it is simply sent again.
                continue;
            }
            match self.held().await? {
                held if held == end => return Ok(held),
                held if (offset..end).contains(&held) => at = held,
                held => {
                    return Err(SinkError::Remote {
                        target: KIND,
                        location: self.url.to_string(),
                        message: format!(
                            "the control plane holds {held} bytes, the chunk spans {offset}..{end} ({error})"
                        ),
                        retryable: false,
                    })
                }
            }
        }
    }

    /// Completes the set of `size` bytes and CRC64 `crc64`.
    async fn complete(&self, size: u64, crc64: u64) -> Result<UploadComplete, SinkError> {
        let params = [
            (upload_param::SIZE, size.to_string()),
            (upload_param::CRC64, crc64.to_string()),
        ];
        let mut failures = 0;
        loop {
            match self.request(Method::POST, &params, None).await {
                Ok(done) => return Ok(done),
                Err(e) if transient(&e) => {
                    failures += 1;
                    self.pause(failures, &e).await?;
                }
                Err(e) => return Err(self.failed(&e)),
            }
        }
    }
}

#[async_trait]
impl Target for UploadTarget {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn describe(&self, _path: &RelPath) -> String {
        format!("{KIND}:{}", self.url)
    }

    /// Asks for the held offset: the key, the set and its running task are
    /// checked by the control plane.
    async fn check(&self) -> Result<(), SinkError> {
        self.held().await.map(|_| ())
    }

    async fn free_space(&self) -> Result<Option<u64>, SinkError> {
        Ok(None)
    }

    async fn open(
        &self,
        _path: &RelPath,
        _expected_size: Option<u64>,
    ) -> Result<Box<dyn SinkWriter>, SinkError> {
        let held = self.held().await?;
        Ok(Box::new(UploadWriter {
            target: std::sync::Arc::new(self.clone()),
            buffer: Frames::default(),
            sent: held,
            in_flight: None,
            crc: Crc64::new(),
            buffer_crc: Crc64::new(),
            from_start: held == 0,
        }))
    }
}

/// A request body of `chunk`'s frames, one after the other.
fn body(chunk: Frames) -> reqwest::Body {
    let frames = chunk.into_vec().into_iter().map(Ok::<_, std::io::Error>);
    reqwest::Body::wrap_stream(futures::stream::iter(frames))
}

/// The writer of one upload.
struct UploadWriter {
    target: std::sync::Arc<UploadTarget>,
    /// Bytes not sent yet (less than a chunk between writes), as the
    /// frames they were written in: shared with the pipeline, not copied.
    buffer: Frames,
    /// Bytes the control plane holds.
    sent: u64,
    /// The chunk being sent, if any: its length and its `PUT`, which
    /// answers the bytes held after it.
    in_flight: Option<(u64, tokio::task::JoinHandle<Result<u64, SinkError>>)>,
    /// CRC64 of every byte sent or in flight since the start.
    crc: Crc64,
    /// CRC64 of the buffered bytes: each byte's CRC is computed once, for
    /// its chunk, and the chunks' are appended to the whole's.
    buffer_crc: Crc64,
    /// Whether every byte from offset 0 went through this writer (else the
    /// whole CRC64 is unknown and it cannot commit).
    from_start: bool,
}

impl UploadWriter {
    /// Waits for the chunk in flight, if any.
    async fn settle(&mut self) -> Result<(), SinkError> {
        if let Some((_, put)) = self.in_flight.take() {
            self.sent = put.await.map_err(|e| SinkError::Remote {
                target: KIND,
                location: self.target.url.to_string(),
                message: format!("the chunk's upload stopped: {e}"),
                retryable: false,
            })??;
        }
        Ok(())
    }

    /// Sends the buffered bytes once the chunk before them has arrived; does
    /// not wait for them.
    async fn send_buffered(&mut self) -> Result<(), SinkError> {
        self.settle().await?;
        let chunk = std::mem::take(&mut self.buffer);
        let chunk_crc = std::mem::take(&mut self.buffer_crc);
        self.crc.append(&chunk_crc);
        let (target, offset, len) = (self.target.clone(), self.sent, chunk.len() as u64);
        let put = tokio::spawn(async move { target.put(offset, chunk, chunk_crc.sum64()).await });
        self.in_flight = Some((len, put));
        Ok(())
    }

    /// Stops the chunk in flight, if any.
    fn cancel_in_flight(&mut self) {
        if let Some((_, put)) = self.in_flight.take() {
            put.abort();
        }
    }
}

impl Drop for UploadWriter {
    fn drop(&mut self) {
        self.cancel_in_flight();
    }
}

#[async_trait]
impl SinkWriter for UploadWriter {
    fn offset(&self) -> u64 {
        let in_flight = self.in_flight.as_ref().map_or(0, |(len, _)| *len);
        self.sent + in_flight + self.buffer.len() as u64
    }

    async fn restart(&mut self) -> Result<(), SinkError> {
        self.cancel_in_flight();
        self.buffer = Frames::default();
        self.sent = self
            .target
            .put(0, Frames::default(), Crc64::of(b""))
            .await?;
        self.crc = Crc64::new();
        self.buffer_crc = Crc64::new();
        self.from_start = true;
        Ok(())
    }

    async fn write(&mut self, chunk: Bytes) -> Result<(), SinkError> {
        let mut rest = chunk;
        while !rest.is_empty() {
            let room = CHUNK_BYTES - self.buffer.len();
            let take = rest.split_to(room.min(rest.len()));
            self.buffer_crc.write(&take);
            self.buffer.push(take);
            if self.buffer.len() == CHUNK_BYTES {
                self.send_buffered().await?;
            }
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), SinkError> {
        if !self.from_start {
            return Err(SinkError::Remote {
                target: KIND,
                location: self.target.url.to_string(),
                message: "an upload resumed without its first bytes cannot be completed".into(),
                retryable: false,
            });
        }
        if !self.buffer.is_empty() || (self.sent == 0 && self.in_flight.is_none()) {
            self.send_buffered().await?;
        }
        self.settle().await?;
        let done = self.target.complete(self.sent, self.crc.sum64()).await?;
        tracing::info!(set = %done.backup_set_id, name = %done.backup_set_name, size = done.size,
            "set uploaded");
        Ok(())
    }

    async fn abort(self: Box<Self>, _keep_partial: bool) -> Result<(), SinkError> {
        // The control plane drops the part when the task fails, or when the
        // next attempt starts again at offset 0.
        Ok(())
    }
}

//! The `minio` target: any S3-compatible object store, through object_store.
//!
//! A set at `path` becomes the object `{prefix}/{path}`, written as a
//! streaming multipart upload: bytes fill a part buffer of `part_size`; a
//! full part is uploaded in the background while the next one fills, with at
//! most `parts_in_flight` uploads running, so memory stays below
//! `(parts_in_flight + 1) × part_size` whatever the set size. `commit`
//! uploads the last part, completes the upload, then checks the object with
//! `HEAD`: its size, and its ETag when the store reports the usual
//! multipart form (MD5 of the part MD5s, `-N`); each part's ETag is checked
//! against the MD5 of the bytes sent too.
//!
//! No orphaned parts: a failed part, a size mismatch or `abort` aborts the
//! multipart upload. The upload id is also kept in a small marker object,
//! `{prefix}/dir/.dbs-part.name` for the set `dir/name` (`RelPath::partial`,
//! a key no set can take), for as long as the upload runs; when the agent
//! dies mid-upload, the next `open` of the same path finds the marker, aborts
//! that upload and starts over. A marker is read with a cap
//! ([`MAX_MARKER_BYTES`]): a larger object at that key is refused, never
//! read whole. Uploaded parts are never continued after a
//! restart: the pipeline must hash the bytes already written, and a store
//! cannot give back the parts of an unfinished upload (`read_back` is
//! `None`). Transient errors (connection refused or reset, 5xx, timeouts)
//! are retried per request with backoff by object_store, for up to
//! `retry_timeout_secs`.
//!
//! This module owns `[targets.minio]` ([`MinioConfig`]); it knows nothing of
//! tasks, URLs or checksums of sets.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjPath;
use object_store::{
    BackoffConfig, ClientOptions, MultipartId, ObjectStore, PutPayload, RetryConfig,
};
use serde::Deserialize;
use tokio::task::JoinSet;

use super::credentials::resolve_secret;
use super::{BuildError, SinkConfig, SinkError, SinkWriter, Target};
use crate::api::layout::RelPath;
use crate::secret::Secret;
use md5::md5;

mod md5;

const KIND: &str = "minio";
/// Largest marker object read; an upload id is a few dozen bytes.
pub const MAX_MARKER_BYTES: u64 = 64 * 1024;
/// S3's smallest part (all parts but the last).
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest number of parts in one upload.
const MAX_PARTS: u64 = 10_000;

/// `[targets.minio]` in gateway.toml.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinioConfig {
    /// Endpoint URL, for example `https://minio.internal:9000`.
    pub endpoint: String,
    /// Bucket (must exist).
    pub bucket: String,
    /// Region used for signing; default `us-east-1` (what MinIO expects).
    #[serde(default = "default_region")]
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (or use `secret_access_key_file`).
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// A file whose first line is the secret access key.
    #[serde(default)]
    pub secret_access_key_file: Option<PathBuf>,
    /// Key prefix under which the layout starts; default none.
    #[serde(default)]
    pub prefix: String,
    /// Path-style requests (`endpoint/bucket/key`), as MinIO and most
    /// self-hosted stores want; default true. False: virtual-hosted style.
    #[serde(default = "default_true")]
    pub path_style: bool,
    /// PEM file with an extra CA for the endpoint's certificate.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// Part size in MiB (5..=5120); default 16.
    #[serde(default = "default_part_size_mib")]
    pub part_size_mib: u64,
    /// Parts uploaded concurrently; default 4.
    #[serde(default = "default_parts_in_flight")]
    pub parts_in_flight: usize,
    /// How long one request is retried on transient errors; default 120 s.
    #[serde(default = "default_retry_timeout_secs")]
    pub retry_timeout_secs: u64,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}
fn default_true() -> bool {
    true
}
fn default_part_size_mib() -> u64 {
    16
}
fn default_parts_in_flight() -> usize {
    4
}
fn default_retry_timeout_secs() -> u64 {
    120
}

// Written by hand so keys never reach a log.
impl fmt::Debug for MinioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MinioConfig")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .field("part_size_mib", &self.part_size_mib)
            .field("parts_in_flight", &self.parts_in_flight)
            .finish_non_exhaustive()
    }
}

impl MinioConfig {
    /// A config with the defaults, for the CLI and tests.
    pub fn new(
        endpoint: impl Into<String>,
        bucket: impl Into<String>,
        access_key_id: impl Into<String>,
        secret_access_key: Secret,
    ) -> Self {
        MinioConfig {
            endpoint: endpoint.into(),
            bucket: bucket.into(),
            region: default_region(),
            access_key_id: access_key_id.into(),
            secret_access_key: Some(secret_access_key),
            secret_access_key_file: None,
            prefix: String::new(),
            path_style: true,
            tls_ca_file: None,
            part_size_mib: default_part_size_mib(),
            parts_in_flight: default_parts_in_flight(),
            retry_timeout_secs: default_retry_timeout_secs(),
        }
    }
}

/// An S3-compatible bucket target.
#[derive(Clone)]
pub struct MinioTarget {
    inner: Arc<Inner>,
}

struct Inner {
    store: AmazonS3,
    endpoint: String,
    bucket: String,
    prefix: String,
    part_size: usize,
    parts_in_flight: usize,
}

impl fmt::Debug for MinioTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MinioTarget")
            .field("endpoint", &self.inner.endpoint)
            .field("bucket", &self.inner.bucket)
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl SinkConfig for MinioConfig {
    type Target = MinioTarget;

    /// Reads the secret file and the CA, checks the endpoint, part size and
    /// concurrency.
    fn build(&self) -> Result<MinioTarget, BuildError> {
        let config = self;
        let secret = resolve_secret(
            "targets.minio.secret_access_key",
            config.secret_access_key.as_ref(),
            config.secret_access_key_file.as_deref(),
        )?;
        let url = reqwest::Url::parse(&config.endpoint).map_err(|e| BuildError::Invalid {
            key: "targets.minio.endpoint",
            reason: format!("not a URL: {e}"),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(BuildError::Invalid {
                key: "targets.minio.endpoint",
                reason: "must be an http:// or https:// URL with a host".to_owned(),
            });
        }
        let part_size = config.part_size_mib.saturating_mul(1024 * 1024);
        if !(MIN_PART_SIZE..=5 * 1024 * 1024 * 1024).contains(&part_size) {
            return Err(BuildError::Invalid {
                key: "targets.minio.part_size_mib",
                reason: format!("{} is outside 5..=5120", config.part_size_mib),
            });
        }
        if !(1..=64).contains(&config.parts_in_flight) {
            return Err(BuildError::Invalid {
                key: "targets.minio.parts_in_flight",
                reason: format!("{} is outside 1..=64", config.parts_in_flight),
            });
        }
        let mut options = ClientOptions::new()
            .with_allow_http(url.scheme() == "http")
            .with_timeout(Duration::from_secs(300))
            .with_connect_timeout(Duration::from_secs(10));
        if let Some(path) = &config.tls_ca_file {
            let shown = path.display().to_string();
            let pem = std::fs::read(path).map_err(|e| BuildError::CaFile {
                key: "targets.minio.tls_ca_file",
                path: shown.clone(),
                reason: e.to_string(),
            })?;
            let certs = object_store::Certificate::from_pem_bundle(&pem).map_err(|e| {
                BuildError::CaFile {
                    key: "targets.minio.tls_ca_file",
                    path: shown.clone(),
                    reason: e.to_string(),
                }
            })?;
            if certs.is_empty() {
                return Err(BuildError::CaFile {
                    key: "targets.minio.tls_ca_file",
                    path: shown,
                    reason: "no PEM certificate in file".to_owned(),
                });
            }
            for cert in certs {
                options = options.with_root_certificate(cert);
            }
        }
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(10),
                base: 2.0,
            },
            max_retries: 20,
            retry_timeout: Duration::from_secs(config.retry_timeout_secs),
        };
        let store = AmazonS3Builder::new()
            .with_endpoint(config.endpoint.trim_end_matches('/'))
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(secret.expose())
            .with_virtual_hosted_style_request(!config.path_style)
            // The payload is not hashed into the signature: each part's
            // ETag is checked against its MD5 instead, and SHA-256 of every
            // part would cost a core on the database host and on the store.
            .with_unsigned_payload(true)
            .with_client_options(options)
            .with_retry(retry)
            .build()
            .map_err(|e| BuildError::Invalid {
                key: "targets.minio",
                reason: e.to_string(),
            })?;
        Ok(MinioTarget {
            inner: Arc::new(Inner {
                store,
                endpoint: config.endpoint.trim_end_matches('/').to_owned(),
                bucket: config.bucket.clone(),
                prefix: config.prefix.trim_matches('/').to_owned(),
                part_size: part_size as usize,
                parts_in_flight: config.parts_in_flight,
            }),
        })
    }
}

impl MinioConfig {
    /// The config for a `--to minio:[BUCKET[/PREFIX]]` spec: this endpoint
    /// and keys, with a non-empty BUCKET (and PREFIX) in place of `bucket`
    /// and `prefix`.
    pub fn for_spec(&self, spec: &str) -> MinioConfig {
        let rest = spec
            .strip_prefix("minio:")
            .unwrap_or(spec)
            .trim_matches('/');
        let mut config = self.clone();
        if !rest.is_empty() {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            config.bucket = bucket.to_owned();
            config.prefix = prefix.to_owned();
        }
        config
    }
}

impl MinioTarget {
    /// The object key of `path`.
    pub fn key(&self, path: &RelPath) -> String {
        self.inner.key(&path.as_slash_path())
    }
}

impl Inner {
    fn key(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_owned()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    fn location(&self, key: &str) -> String {
        format!("{}/{}/{key}", self.endpoint, self.bucket)
    }

    fn err(&self, key: &str, e: object_store::Error) -> SinkError {
        map_store_error(&self.location(key), e)
    }

    /// Aborts the upload named by the marker of `key`, if any, and removes
    /// the marker: what an agent that died mid-upload left behind.
    async fn abort_stale(&self, key: &ObjPath, marker: &ObjPath) -> Result<(), SinkError> {
        let got = match self.store.get(marker).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(self.err(marker.as_ref(), e)),
        };
        let too_big = |size: u64| SinkError::Unusable {
            target: KIND,
            location: self.location(marker.as_ref()),
            reason: format!(
                "marker object of {size} bytes or more is larger than {MAX_MARKER_BYTES}; \
                 not an upload marker of this agent: remove it"
            ),
        };
        if got.meta.size > MAX_MARKER_BYTES {
            return Err(too_big(got.meta.size));
        }
        let id = match read_capped(got.into_stream(), MAX_MARKER_BYTES).await {
            Ok(id) => id,
            Err(Capped::TooBig(n)) => return Err(too_big(n)),
            Err(Capped::Store(e)) => return Err(self.err(marker.as_ref(), e)),
        };
        let id: MultipartId = String::from_utf8_lossy(&id).trim().to_owned();
        match self.store.abort_multipart(key, &id).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.err(key.as_ref(), e)),
        }
        tracing::info!(target_kind = KIND, key = %key, "aborted the upload of an earlier attempt");
        self.delete_marker(marker).await
    }

    async fn delete_marker(&self, marker: &ObjPath) -> Result<(), SinkError> {
        match self.store.delete(marker).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(marker.as_ref(), e)),
        }
    }
}

/// Why [`read_capped`] stopped.
#[derive(Debug)]
enum Capped {
    /// More than the cap arrived (at least this many bytes).
    TooBig(u64),
    Store(object_store::Error),
}

/// Collects a body of at most `cap` bytes; stops reading as soon as more
/// arrives.
async fn read_capped(
    mut body: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
    cap: u64,
) -> Result<Vec<u8>, Capped> {
    use futures::StreamExt;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(Capped::Store)?;
        let total = (out.len() + chunk.len()) as u64;
        if total > cap {
            return Err(Capped::TooBig(total));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Maps an object_store error: 401/403 (bad key, bad signature, no
/// permission) are `Denied`; a missing bucket is `Unusable`; other 4xx
/// replies need an operator; the rest (transport trouble, 5xx, timeouts) is
/// retryable. object_store has already retried the retryable ones up to its
/// timeout by then. Some of its paths (listing, multipart) report the HTTP
/// status only in the message, so that is read as well.
fn map_store_error(location: &str, e: object_store::Error) -> SinkError {
    let message = e.to_string();
    let status = http_status(&message);
    let denied = matches!(
        e,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) || matches!(status, Some(401 | 403))
        || [
            "SignatureDoesNotMatch",
            "InvalidAccessKeyId",
            "AccessDenied",
        ]
        .iter()
        .any(|code| message.contains(code));
    if denied {
        return SinkError::Denied {
            target: KIND,
            location: location.to_owned(),
            message,
        };
    }
    if message.contains("NoSuchBucket") || message.contains("InvalidBucketName") {
        return SinkError::Unusable {
            target: KIND,
            location: location.to_owned(),
            reason: "no such bucket".to_owned(),
        };
    }
    let retryable = match status {
        Some(408 | 429) => true,
        Some(s) => s >= 500,
        None => matches!(
            e,
            object_store::Error::Generic { .. } | object_store::Error::JoinError { .. }
        ),
    };
    SinkError::Remote {
        target: KIND,
        location: location.to_owned(),
        message,
        retryable,
    }
}

/// The HTTP status in an object_store message ("... status code: 403 ...").
fn http_status(message: &str) -> Option<u16> {
    let rest = &message[message.find("status code: ")? + "status code: ".len()..];
    rest.get(..3)?.parse().ok()
}

#[async_trait]
impl Target for MinioTarget {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn describe(&self, path: &RelPath) -> String {
        self.inner.location(&self.key(path))
    }

    async fn check(&self) -> Result<(), SinkError> {
        // One listing page under the prefix: proves the endpoint answers, the
        // key is accepted and the bucket exists.
        let inner = &self.inner;
        let prefix = (!inner.prefix.is_empty()).then(|| ObjPath::from(inner.prefix.as_str()));
        let mut listing = inner.store.list(prefix.as_ref());
        use futures::StreamExt;
        match listing.next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(inner.err(&inner.prefix, e)),
        }
    }

    async fn free_space(&self) -> Result<Option<u64>, SinkError> {
        Ok(None)
    }

    async fn open(
        &self,
        path: &RelPath,
        expected_size: Option<u64>,
    ) -> Result<Box<dyn SinkWriter>, SinkError> {
        let inner = self.inner.clone();
        let key_str = self.key(path);
        let key = ObjPath::from(key_str.as_str());
        let marker = ObjPath::from(self.key(&path.partial()));
        if let Some(expected_size) =
            expected_size.filter(|size| size.div_ceil(inner.part_size as u64) > MAX_PARTS)
        {
            return Err(SinkError::Unusable {
                target: KIND,
                location: inner.location(&key_str),
                reason: format!(
                    "{expected_size} bytes need more than {MAX_PARTS} parts of {} bytes; raise part_size_mib",
                    inner.part_size
                ),
            });
        }
        inner.abort_stale(&key, &marker).await?;
        Ok(Box::new(MinioWriter {
            inner,
            key,
            marker,
            upload: None,
            buffer: BytesMut::new(),
            spare: None,
            running: JoinSet::new(),
            parts: Vec::new(),
            next_part: 0,
            offset: 0,
            expected_size,
        }))
    }
}

/// One part uploaded: its index, the store's ETag and the MD5 we sent.
struct DonePart {
    idx: usize,
    id: PartId,
    md5: [u8; 16],
}

/// A finished part upload, with its buffer when nothing else holds it.
struct Finished {
    part: DonePart,
    buffer: Option<BytesMut>,
}

/// Streams one object as a multipart upload.
struct MinioWriter {
    inner: Arc<Inner>,
    key: ObjPath,
    marker: ObjPath,
    /// The upload id, once the first part is due.
    upload: Option<MultipartId>,
    buffer: BytesMut,
    /// The buffer of a finished part, reused for the next one: a fresh
    /// `part_size` allocation per part costs page faults for every page.
    spare: Option<BytesMut>,
    running: JoinSet<Result<Finished, SinkError>>,
    parts: Vec<DonePart>,
    next_part: usize,
    offset: u64,
    expected_size: Option<u64>,
}

impl MinioWriter {
    fn location(&self) -> String {
        self.inner.location(self.key.as_ref())
    }

    /// Starts the multipart upload and records its id in the marker.
    async fn upload_id(&mut self) -> Result<MultipartId, SinkError> {
        if let Some(id) = &self.upload {
            return Ok(id.clone());
        }
        let id = self
            .inner
            .store
            .create_multipart(&self.key)
            .await
            .map_err(|e| self.inner.err(self.key.as_ref(), e))?;
        self.upload = Some(id.clone());
        let marked = self
            .inner
            .store
            .put(&self.marker, PutPayload::from(id.clone().into_bytes()))
            .await;
        if let Err(e) = marked {
            return Err(self.inner.err(self.marker.as_ref(), e));
        }
        Ok(id)
    }

    /// Sends the buffer as the next part in the background, after waiting
    /// for a slot so at most `parts_in_flight` run at once.
    async fn send_part(&mut self) -> Result<(), SinkError> {
        let id = self.upload_id().await?;
        while self.running.len() >= self.inner.parts_in_flight {
            self.join_one().await?;
        }
        let data = std::mem::replace(&mut self.buffer, BytesMut::new()).freeze();
        let idx = self.next_part;
        self.next_part += 1;
        let inner = self.inner.clone();
        let key = self.key.clone();
        self.running.spawn(async move {
            let md5 = part_md5(data.clone()).await?;
            let sent = data.clone();
            let id = inner
                .store
                .put_part(&key, &id, idx, PutPayload::from(data))
                .await
                .map_err(|e| inner.err(key.as_ref(), e))?;
            // A part ETag that is a plain MD5 must be the MD5 we sent.
            let etag = id.content_id.trim_matches('"');
            if etag.len() == 32
                && etag.bytes().all(|b| b.is_ascii_hexdigit())
                && etag != hex::encode(md5)
            {
                return Err(SinkError::Remote {
                    target: KIND,
                    location: inner.location(key.as_ref()),
                    message: format!("part {} arrived corrupted (ETag {etag})", idx + 1),
                    retryable: true,
                });
            }
            Ok(Finished {
                part: DonePart { idx, id, md5 },
                buffer: sent.try_into_mut().ok(),
            })
        });
        Ok(())
    }

    async fn join_one(&mut self) -> Result<(), SinkError> {
        match self.running.join_next().await {
            None => Ok(()),
            Some(Ok(Ok(Finished { part, buffer }))) => {
                self.parts.push(part);
                if let Some(mut buffer) = buffer {
                    buffer.clear();
                    self.spare = Some(buffer);
                }
                Ok(())
            }
            Some(Ok(Err(e))) => Err(e),
            Some(Err(e)) => Err(SinkError::Remote {
                target: KIND,
                location: self.location(),
                message: format!("part upload task failed: {e}"),
                retryable: true,
            }),
        }
    }

    /// Aborts the multipart upload (no parts stay behind) and the marker.
    async fn abort_upload(&mut self) -> Result<(), SinkError> {
        self.running.abort_all();
        while self.running.join_next().await.is_some() {}
        self.parts.clear();
        self.buffer = BytesMut::new();
        self.next_part = 0;
        self.offset = 0;
        if let Some(id) = self.upload.take() {
            match self.inner.store.abort_multipart(&self.key, &id).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.inner.err(self.key.as_ref(), e)),
            }
        }
        self.inner.delete_marker(&self.marker).await
    }

    /// Everything after the bytes are in: last part, complete, verify.
    async fn finish(&mut self) -> Result<(), SinkError> {
        if let Some(expected) = self.expected_size.filter(|&e| e != self.offset) {
            return Err(SinkError::SizeMismatch {
                location: self.location(),
                expected,
                actual: self.offset,
            });
        }
        if self.upload.is_none() && self.buffer.len() as u64 == self.offset {
            // Small enough for one PUT: no multipart upload at all.
            let data = std::mem::take(&mut self.buffer).freeze();
            let digest = md5(&data);
            let put = self
                .inner
                .store
                .put(&self.key, PutPayload::from(data))
                .await;
            put.map_err(|e| self.inner.err(self.key.as_ref(), e))?;
            return self.verify(Some(hex::encode(digest))).await;
        }
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        while !self.running.is_empty() {
            self.join_one().await?;
        }
        self.parts.sort_by_key(|p| p.idx);
        let part_md5s: Vec<u8> = self.parts.iter().flat_map(|p| p.md5).collect();
        let expected_etag = format!("{}-{}", hex::encode(md5(&part_md5s)), self.parts.len());
        let ids = self.parts.iter().map(|p| p.id.clone()).collect();
        let id = self.upload_id().await?;
        self.inner
            .store
            .complete_multipart(&self.key, &id, ids)
            .await
            .map_err(|e| self.inner.err(self.key.as_ref(), e))?;
        self.upload = None;
        self.inner.delete_marker(&self.marker).await?;
        self.verify(Some(expected_etag)).await
    }

    /// `HEAD` of the object: the size must match; an ETag of the form we
    /// can compute must match too. On a mismatch the object is deleted.
    async fn verify(&self, expected_etag: Option<String>) -> Result<(), SinkError> {
        let meta = self
            .inner
            .store
            .head(&self.key)
            .await
            .map_err(|e| self.inner.err(self.key.as_ref(), e))?;
        let etag = meta
            .e_tag
            .as_deref()
            .map(|t| t.trim_matches('"').to_ascii_lowercase());
        let etag_bad = match (&etag, &expected_etag) {
            (Some(got), Some(want)) if comparable_etag(got) => got != want,
            _ => false,
        };
        // A stream must have stored every byte sent.
        let expected = self.expected_size.unwrap_or(self.offset);
        if meta.size != expected || etag_bad {
            let _ = self.inner.store.delete(&self.key).await;
            if etag_bad {
                return Err(SinkError::Remote {
                    target: KIND,
                    location: self.location(),
                    message: format!(
                        "stored ETag {} differs from the {} computed from the bytes sent",
                        etag.unwrap_or_default(),
                        expected_etag.unwrap_or_default()
                    ),
                    retryable: true,
                });
            }
            return Err(SinkError::SizeMismatch {
                location: self.location(),
                expected,
                actual: meta.size,
            });
        }
        Ok(())
    }
}

/// An ETag we can recompute: a plain MD5, or an MD5 with a `-N` part count.
fn comparable_etag(etag: &str) -> bool {
    let (md5, parts) = etag.split_once('-').unwrap_or((etag, "1"));
    md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()) && parts.parse::<u32>().is_ok()
}

#[async_trait]
impl SinkWriter for MinioWriter {
    fn offset(&self) -> u64 {
        self.offset
    }

    async fn restart(&mut self) -> Result<(), SinkError> {
        self.abort_upload().await
    }

    async fn write(&mut self, mut chunk: Bytes) -> Result<(), SinkError> {
        while !chunk.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer = self
                    .spare
                    .take()
                    .unwrap_or_else(|| BytesMut::with_capacity(self.inner.part_size));
            }
            let room = self.inner.part_size - self.buffer.len();
            let take = room.min(chunk.len());
            self.buffer.extend_from_slice(&chunk.split_to(take));
            self.offset += take as u64;
            if self.buffer.len() == self.inner.part_size {
                if let Err(e) = self.send_part().await {
                    self.abort_upload().await?;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), SinkError> {
        match self.finish().await {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Err(cleanup) = self.abort_upload().await {
                    tracing::warn!(target_kind = KIND, error = %cleanup, "could not abort the multipart upload");
                }
                Err(e)
            }
        }
    }

    async fn abort(mut self: Box<Self>, _keep_partial: bool) -> Result<(), SinkError> {
        // Parts cannot be read back for hashing, so a later attempt starts
        // over anyway: never keep them.
        self.abort_upload().await
    }
}

/// MD5 of a part, on a blocking thread: a 16 MiB part takes tens of
/// milliseconds, which must not stall the download's network thread.
async fn part_md5(data: Bytes) -> Result<[u8; 16], SinkError> {
    tokio::task::spawn_blocking(move || md5(&data))
        .await
        .map_err(|e| SinkError::Remote {
            target: KIND,
            location: String::new(),
            message: format!("part checksum task failed: {e}"),
            retryable: true,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_marker_body_is_read_only_up_to_the_cap() {
        use futures::StreamExt;
        use std::sync::atomic::{AtomicU64, Ordering};
        // An endless body: reading it whole would never end.
        let pulled = Arc::new(AtomicU64::new(0));
        let counter = pulled.clone();
        let endless = futures::stream::repeat_with(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(Bytes::from(vec![b'x'; 16 * 1024]))
        })
        .boxed();
        match read_capped(endless, MAX_MARKER_BYTES).await {
            Err(Capped::TooBig(n)) => assert!(n > MAX_MARKER_BYTES),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            pulled.load(Ordering::Relaxed),
            MAX_MARKER_BYTES / (16 * 1024) + 1
        );
        let small = futures::stream::iter([Ok(Bytes::from_static(b"upload-id\n"))]).boxed();
        assert_eq!(
            read_capped(small, MAX_MARKER_BYTES).await.unwrap(),
            b"upload-id\n"
        );
    }

    fn config() -> MinioConfig {
        MinioConfig::new("http://127.0.0.1:9000", "b", "AK", Secret::new("SK"))
    }

    #[test]
    fn config_parses_and_hides_secrets() {
        let cfg: MinioConfig = toml::from_str(
            r#"endpoint = "https://s3.internal:9000"
               bucket = "backups"
               access_key_id = "AKIDEXAMPLE"
               secret_access_key = "wJalrXUtnFEMI"
               prefix = "dbs/""#,
        )
        .expect("valid config");
        assert_eq!(cfg.region, "us-east-1");
        assert!(cfg.path_style);
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("wJalrXUtnFEMI") && !shown.contains("AKIDEXAMPLE"),
            "{shown}"
        );
        assert!(toml::from_str::<MinioConfig>(
            "endpoint = \"x\"\nbucket = \"b\"\naccess_key_id = \"a\"\nsecert = \"s\""
        )
        .is_err());
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let mut c = config();
        c.endpoint = "not a url".into();
        let e = c.build().expect_err("bad endpoint");
        assert!(e.to_string().contains("targets.minio.endpoint"), "{e}");
        let mut c = config();
        c.part_size_mib = 1;
        let e = c.build().expect_err("part too small");
        assert!(e.to_string().contains("part_size_mib"), "{e}");
    }

    #[test]
    fn spec_replaces_bucket_and_prefix() {
        let t = config()
            .for_spec("minio:other/some/prefix")
            .build()
            .expect("target");
        assert_eq!(t.inner.bucket, "other");
        assert_eq!(t.inner.key("d/p/full/x"), "some/prefix/d/p/full/x");
        let t = config().for_spec("minio:").build().expect("target");
        assert_eq!(t.inner.bucket, "b");
        assert_eq!(t.inner.key("x"), "x");
    }

    #[test]
    fn status_in_messages_decides_the_code() {
        let msg = "Error performing GET http://h/b?list-type=2 in 6ms - Server returned non-2xx status code: 403 Forbidden: <Error><Code>SignatureDoesNotMatch</Code></Error>";
        assert_eq!(http_status(msg), Some(403));
        assert_eq!(http_status("connection refused"), None);
    }

    #[test]
    fn etags_we_can_recompute() {
        assert!(comparable_etag("9bb58f26192e4ba00f01e2e7b136bbd8"));
        assert!(comparable_etag("9bb58f26192e4ba00f01e2e7b136bbd8-12"));
        assert!(!comparable_etag("W/xyz"));
        assert!(!comparable_etag("9bb58f26192e4ba00f01e2e7b136bbd8-x"));
    }
}

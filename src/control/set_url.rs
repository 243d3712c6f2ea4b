//! Signed, expiring URLs of backup sets' bytes, and the route that serves
//! them: `GET|HEAD /sets/{BackupSetId}?Expires={unix seconds}&Signature={hex}`.
//!
//! The signature is HMAC-SHA256 over `{BackupSetId}\n{Expires}` with a key
//! made once per data dir (kept in the store, so `serve` and the admin CLI
//! share it). The route honours one byte `Range` (206 with `Content-Range`;
//! 416 for a malformed, unsatisfiable or multi-range header), `If-Range`
//! against the strong `ETag` (the set's SHA-256), and `HEAD`; it streams
//! from disk in constant memory.
//!
//! tower-http's `ServeFile` is not used: it sends no `ETag` and ignores
//! `If-Range`, so a client resuming against a changed file would splice two
//! versions. Range syntax is parsed by `http-range-header`, the parser
//! tower-http itself uses.

use std::ops::RangeInclusive;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hmac::{Hmac, Mac};
use rusqlite::Connection;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::api::gateway::{LeasedTask, TaskSpec};
use crate::api::ApiError;

use super::catalog::{self, sets};
use super::ControlPlane;

/// Lifetime of the URL in a download task.
pub const TASK_URL_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Lifetime of the URL shown by DescribeBackupSetDownloadTaskList.
pub const LIST_URL_TTL: Duration = Duration::from_secs(24 * 3600);

/// Path prefix of the route.
pub const ROUTE: &str = "/sets/{id}";

const KEY_META: &str = "set_url_key";
const PUBLIC_URL_META: &str = "public_url";
/// Read size when serving set bytes: one blocking file read per MiB keeps
/// dbs-control's CPU per byte low.
const STREAM_CHUNK: usize = 1024 * 1024;

type HmacSha256 = Hmac<Sha256>;

/// The URL signing key of this data dir, made on first use.
pub fn signing_key(conn: &Connection) -> rusqlite::Result<Vec<u8>> {
    let fresh: [u8; 32] = rand::random();
    let key = catalog::meta_or_insert(conn, KEY_META, &hex::encode(fresh))?;
    hex::decode(key).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

/// Records the base URL `serve` answers on, for the admin CLI's tasks.
pub fn record_public_url(conn: &Connection, url: &str) -> rusqlite::Result<()> {
    catalog::set_meta(conn, PUBLIC_URL_META, url)
}

/// The base URL the last `serve` recorded.
pub fn recorded_public_url(conn: &Connection) -> rusqlite::Result<Option<String>> {
    catalog::meta(conn, PUBLIC_URL_META)
}

/// Hex HMAC-SHA256 of `{set_id}\n{expires}`.
pub fn signature(key: &[u8], set_id: &str, expires: i64) -> String {
    hex::encode(mac(key, set_id, expires).finalize().into_bytes())
}

fn mac(key: &[u8], set_id: &str, expires: i64) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{set_id}\n{expires}").as_bytes());
    mac
}

/// `{base}/sets/{set_id}?Expires=…&Signature=…`; only the path and query
/// when `base` is `None`.
pub fn url(base: Option<&str>, set_id: &str, expires: i64, signature: &str) -> String {
    let base = base.unwrap_or("").trim_end_matches('/');
    format!("{base}/sets/{set_id}?Expires={expires}&Signature={signature}")
}

/// A URL of a set valid for `ttl` from `now_ms`.
pub fn signed_url(
    conn: &Connection,
    base: Option<&str>,
    set_id: &str,
    now_ms: i64,
    ttl: Duration,
) -> rusqlite::Result<String> {
    let key = signing_key(conn)?;
    let expires = now_ms / 1000 + ttl.as_secs() as i64;
    Ok(url(
        base,
        set_id,
        expires,
        &signature(&key, set_id, expires),
    ))
}

/// Gives every leased DownloadBackupSet task a URL signed now, valid for
/// [`TASK_URL_TTL`], on this server's public URL: a task queued long ago (or
/// by the admin CLI before `serve` knew its address) still gets a live URL.
pub async fn refresh_leased(
    plane: &ControlPlane,
    mut leased: Vec<LeasedTask>,
) -> Result<Vec<LeasedTask>, ApiError> {
    if !leased
        .iter()
        .any(|t| matches!(t.spec, TaskSpec::DownloadBackupSet(_)))
    {
        return Ok(leased);
    }
    let key = plane
        .store
        .call(|c| signing_key(c))
        .await
        .map_err(|error| {
            tracing::error!(%error, "store failure");
            ApiError::internal()
        })?;
    let expires = chrono::Utc::now().timestamp() + TASK_URL_TTL.as_secs() as i64;
    let base = plane.settings.public_url.as_deref();
    for task in &mut leased {
        if let TaskSpec::DownloadBackupSet(spec) = &mut task.spec {
            let sig = signature(&key, &spec.backup_set_id, expires);
            spec.url = url(base, &spec.backup_set_id, expires, &sig);
        }
    }
    Ok(leased)
}

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// `Expires` or `Signature` is missing or malformed.
    #[error("the URL lacks a well-formed Expires and Signature")]
    Malformed,
    /// The signature does not match.
    #[error("the URL's signature does not match")]
    BadSignature,
    /// The URL expired.
    #[error("the URL expired at {0} (unix seconds)")]
    Expired(i64),
}

impl UrlError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            UrlError::Malformed => "SetUrl.Malformed",
            UrlError::BadSignature => "SetUrl.SignatureDoesNotMatch",
            UrlError::Expired(_) => "SetUrl.Expired",
        }
    }

    /// A refused URL stays refused; a fresh one must be asked for.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Checks a URL's `Expires` and `Signature` (signature first, in constant time).
pub fn verify(
    key: &[u8],
    set_id: &str,
    expires: Option<&str>,
    signature: Option<&str>,
    now_s: i64,
) -> Result<(), UrlError> {
    let expires: i64 = expires
        .and_then(|e| e.parse().ok())
        .ok_or(UrlError::Malformed)?;
    let given = signature
        .and_then(|s| hex::decode(s).ok())
        .ok_or(UrlError::Malformed)?;
    mac(key, set_id, expires)
        .verify_slice(&given)
        .map_err(|_| UrlError::BadSignature)?;
    if expires < now_s {
        return Err(UrlError::Expired(expires));
    }
    Ok(())
}

/// What to send for a request's `Range` and `If-Range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// 200 with every byte.
    Whole,
    /// 206 with these bytes.
    Part(RangeInclusive<u64>),
    /// 416.
    Unsatisfiable,
}

/// Decides between the whole file, one range, or 416. An `If-Range` that is
/// not exactly the (strong) ETag, or is a date, sends the whole file.
pub fn choose(size: u64, etag: &str, range: Option<&str>, if_range: Option<&str>) -> Choice {
    let Some(range) = range else {
        return Choice::Whole;
    };
    if if_range.is_some_and(|v| v.trim() != etag) {
        return Choice::Whole;
    }
    if size == 0 {
        // No byte of an empty set can be asked for (the parser would
        // answer 0-0 here).
        return Choice::Unsatisfiable;
    }
    let ranges = http_range_header::parse_range_header(range)
        .ok()
        .and_then(|parsed| parsed.validate(size).ok());
    match ranges.as_deref() {
        Some([one]) => Choice::Part(one.clone()),
        _ => Choice::Unsatisfiable,
    }
}

fn refusal(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
    let error = ApiError::new(status.as_u16(), code, message);
    (status, Json(error.body(&request_id))).into_response()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `GET|HEAD /sets/{id}`: a set's bytes for a valid signed URL.
pub async fn serve_set(
    State(plane): State<ControlPlane>,
    Path(set_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query: Vec<(String, String)> =
        form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let id = set_id.clone();
    let found = plane
        .store
        .call(move |c| {
            let key = signing_key(c)?;
            let set = sets::get(c, &id)?;
            Ok((key, set, sets::data_dir_of(c)))
        })
        .await;
    let (key, set, data_dir) = match found {
        Ok(found) => found,
        Err(error) => {
            tracing::error!(%error, "store failure");
            return refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "The set could not be looked up.",
            );
        }
    };
    let now_s = chrono::Utc::now().timestamp();
    let checked = verify(
        &key,
        &set_id,
        param(&query, "Expires"),
        param(&query, "Signature"),
        now_s,
    );
    if let Err(e) = checked {
        super::limits::refusal_log(|suppressed| {
            tracing::info!(code = e.code(), suppressed, "set URL refused");
        });
        return refusal(StatusCode::FORBIDDEN, e.code(), e.to_string());
    }
    let (Some(set), Some(data_dir)) = (set, data_dir) else {
        return refusal(
            StatusCode::NOT_FOUND,
            "BackupSet.NotFound",
            format!("Backup set {set_id} does not exist."),
        );
    };
    send_file(&data_dir.join(&set.file), &set, &headers).await
}

async fn send_file(path: &std::path::Path, set: &sets::BackupSet, headers: &HeaderMap) -> Response {
    let missing = |what: &str| {
        tracing::error!(set = %set.id, path = %path.display(), "{what}");
        refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "BackupSet.FileMissing",
            format!("The bytes of backup set {} are not available.", set.id),
        )
    };
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(_) => return missing("set file cannot be opened"),
    };
    match file.metadata().await {
        Ok(m) if m.len() == set.size => {}
        _ => return missing("set file has the wrong size"),
    }
    let etag = format!("\"{}\"", set.sha256);
    let header_str = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let choice = choose(
        set.size,
        &etag,
        header_str(header::RANGE),
        header_str(header::IF_RANGE),
    );
    let (status, start, len) = match &choice {
        Choice::Whole => (StatusCode::OK, 0, set.size),
        Choice::Part(r) => (
            StatusCode::PARTIAL_CONTENT,
            *r.start(),
            r.end() - r.start() + 1,
        ),
        Choice::Unsatisfiable => {
            let mut response = refusal(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                format!(
                    "Range must be one byte range within the set's {} bytes.",
                    set.size
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", set.size)) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return response;
        }
    };
    tracing::info!(set = %set.id, start, bytes = len, "serving set bytes");
    if start > 0 && file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return missing("set file cannot be read");
    }
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), STREAM_CHUNK);
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        percent_encoding::utf8_percent_encode(&set.name, percent_encoding::NON_ALPHANUMERIC)
    );
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, len)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, &etag)
        .header(header::CONTENT_DISPOSITION, disposition);
    if let Choice::Part(r) = &choice {
        builder = builder.header(
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{}", r.start(), r.end(), set.size),
        );
    }
    builder
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| missing("response could not be built"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: &str = "\"abc\"";

    #[test]
    fn a_signature_verifies_until_it_expires() {
        let key = b"k";
        let sig = signature(key, "bs1", 100);
        assert_eq!(verify(key, "bs1", Some("100"), Some(&sig), 99), Ok(()));
        assert_eq!(verify(key, "bs1", Some("100"), Some(&sig), 100), Ok(()));
        assert_eq!(
            verify(key, "bs1", Some("100"), Some(&sig), 101),
            Err(UrlError::Expired(100))
        );
        assert_eq!(
            verify(key, "bs2", Some("100"), Some(&sig), 99),
            Err(UrlError::BadSignature)
        );
        assert_eq!(
            verify(key, "bs1", Some("101"), Some(&sig), 99),
            Err(UrlError::BadSignature)
        );
        assert_eq!(
            verify(b"other", "bs1", Some("100"), Some(&sig), 99),
            Err(UrlError::BadSignature)
        );
        assert_eq!(
            verify(key, "bs1", None, Some(&sig), 99),
            Err(UrlError::Malformed)
        );
        assert_eq!(
            verify(key, "bs1", Some("100"), Some("zz"), 99),
            Err(UrlError::Malformed)
        );
    }

    #[test]
    fn urls_carry_expiry_and_signature() {
        assert_eq!(
            url(Some("http://h:1/"), "bs1", 5, "ab"),
            "http://h:1/sets/bs1?Expires=5&Signature=ab"
        );
        assert_eq!(
            url(None, "bs1", 5, "ab"),
            "/sets/bs1?Expires=5&Signature=ab"
        );
    }

    #[test]
    fn ranges_and_if_range() {
        assert_eq!(choose(10, ETAG, None, None), Choice::Whole);
        assert_eq!(
            choose(10, ETAG, Some("bytes=2-"), None),
            Choice::Part(2..=9)
        );
        assert_eq!(
            choose(10, ETAG, Some("bytes=2-4"), None),
            Choice::Part(2..=4)
        );
        assert_eq!(
            choose(10, ETAG, Some("bytes=-3"), None),
            Choice::Part(7..=9)
        );
        assert_eq!(
            choose(10, ETAG, Some("bytes=2-40"), None),
            Choice::Part(2..=9)
        );
        assert_eq!(
            choose(10, ETAG, Some("bytes=2-"), Some(ETAG)),
            Choice::Part(2..=9)
        );
        assert_eq!(
            choose(10, ETAG, Some("bytes=2-"), Some("\"other\"")),
            Choice::Whole
        );
        assert_eq!(
            choose(10, ETAG, Some("bytes=2-"), Some("W/\"abc\"")),
            Choice::Whole
        );
        assert_eq!(
            choose(
                10,
                ETAG,
                Some("bytes=2-"),
                Some("Wed, 21 Oct 2015 07:28:00 GMT")
            ),
            Choice::Whole
        );
        for bad in [
            "bytes=10-",
            "bytes=5-2",
            "bytes=0-1,3-4",
            "pages=1-2",
            "bytes=x-",
        ] {
            assert_eq!(
                choose(10, ETAG, Some(bad), None),
                Choice::Unsatisfiable,
                "{bad}"
            );
        }
        assert_eq!(
            choose(0, ETAG, Some("bytes=0-"), None),
            Choice::Unsatisfiable
        );
    }
}

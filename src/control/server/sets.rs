//! The route that serves a set's bytes for a valid signed URL:
//! `GET|HEAD /sets/{BackupSetId}?Expires=…&Signature=…` (see
//! [`crate::control::set_url`]).
//!
//! It honours one byte `Range` (206 with `Content-Range`; 416 for a
//! malformed, unsatisfiable or multi-range header), `If-Range` against the
//! strong `ETag` (the set's SHA-256), and `HEAD` (see [`super::range`]); it
//! streams from disk in constant memory.
//!
//! tower-http's `ServeFile` is not used: it sends no `ETag` and ignores
//! `If-Range`, so a client resuming against a changed file would splice two
//! versions.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::api::ApiError;
use crate::control::catalog::{meta, sets};
use crate::control::{limits, set_url, ControlPlane};

use super::range::{choose, Choice};

/// Path of the route.
pub const ROUTE: &str = "/sets/{id}";

/// Read size when serving set bytes: one blocking file read per MiB keeps
/// dbs-control's CPU per byte low.
const STREAM_CHUNK: usize = 1024 * 1024;

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
            let key = meta::signing_key(c)?;
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
    let checked = set_url::verify(
        &key,
        &set_id,
        param(&query, "Expires"),
        param(&query, "Signature"),
        now_s,
    );
    if let Err(e) = checked {
        limits::refusal_log(|suppressed| {
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

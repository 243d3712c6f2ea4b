//! What bounds one client's hold on dbs-control: the connection limit, the
//! header, body and idle timeouts, the size of an RPC body, and the rate of
//! refusal lines in the log.
//!
//! The RPC body is read here, under its size limit and timeout, before the
//! request reaches authentication: a client without a key can make the
//! server hold at most [`Limits::max_body_bytes`] for
//! [`Limits::body_timeout`] per connection. The connections themselves are
//! bounded in `listener`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::api::ApiError;

/// Bounds of the HTTP server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; more wait in the listen queue.
    pub max_connections: usize,
    /// A request head must arrive whole within this, counted from its first
    /// byte; so must a TLS handshake.
    pub header_timeout: Duration,
    /// An RPC body must arrive whole within this, counted from its head.
    pub body_timeout: Duration,
    /// A connection with no request for this long (a new one that sends
    /// nothing, or a keep-alive one between requests) is closed; so is one
    /// whose client reads none of the answer for this long.
    pub idle_timeout: Duration,
    /// Largest RPC body (`/`), in bytes.
    pub max_body_bytes: usize,
}

/// Default of [`Limits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default of [`Limits::max_body_bytes`]: 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Why an RPC body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Declared or sent bytes exceed the limit.
    #[error("The request body exceeds {0} bytes.")]
    TooLarge(usize),
    /// The body did not arrive within the body timeout.
    #[error("The request body did not arrive within {} seconds.", .0.as_secs())]
    Timeout(Duration),
    /// The connection failed while the body was read.
    #[error("The request body could not be read: {0}")]
    Broken(String),
}

impl BodyError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            BodyError::TooLarge(_) => "RequestBodyTooLarge",
            BodyError::Timeout(_) => "RequestTimeout",
            BodyError::Broken(_) => "InvalidRequest.Body",
        }
    }

    /// Sending the same request again cannot help for a body too large.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, BodyError::TooLarge(_))
    }

    fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::Broken(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The answer, in the API's error shape; the connection is closed after
    /// it (the rest of the body is never read).
    fn into_response(self) -> Response {
        let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
        let status = self.status();
        refusal_log(|suppressed| {
            tracing::info!(
                request_id = %request_id,
                code = self.code(),
                suppressed,
                "request refused"
            );
        });
        let error = ApiError::new(status.as_u16(), self.code(), self.to_string());
        let mut response = (status, Json(error.body(&request_id))).into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

/// Reads an RPC body whole, refusing one over `limits.max_body_bytes`
/// (by its Content-Length before reading, else once it has sent more) or
/// one slower than `limits.body_timeout`.
pub async fn read_body(limits: &Limits, request: Request) -> Result<Request, BodyError> {
    let max = limits.max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge(max));
    }
    let (parts, body) = request.into_parts();
    let collected = tokio::time::timeout(limits.body_timeout, Limited::new(body, max).collect())
        .await
        .map_err(|_| BodyError::Timeout(limits.body_timeout))?;
    let bytes: Bytes = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => return Err(BodyError::TooLarge(max)),
        Err(error) => return Err(BodyError::Broken(error.to_string())),
    };
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Middleware of the RPC route: the body is read under the limits before
/// the handler sees the request.
pub async fn limit_body(
    State(limits): State<std::sync::Arc<Limits>>,
    request: Request,
    next: Next,
) -> Response {
    match read_body(&limits, request).await {
        Ok(request) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// Refusal lines allowed per second; the rest are counted and the count is
/// logged with the next line allowed.
pub const REFUSAL_LINES_PER_SEC: u32 = 20;

struct Window {
    start: Option<Instant>,
    lines: u32,
    suppressed: u64,
}

static REFUSALS: Mutex<Window> = Mutex::new(Window {
    start: None,
    lines: 0,
    suppressed: 0,
});

/// Runs `log` (a refusal line) unless [`REFUSAL_LINES_PER_SEC`] lines were
/// logged in the current second; `log` gets the number of lines suppressed
/// since the last one logged.
pub fn refusal_log(log: impl FnOnce(u64)) {
    let suppressed = {
        let mut window = REFUSALS.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if window.start.map_or(true, |start| {
            now.duration_since(start) >= Duration::from_secs(1)
        }) {
            window.start = Some(now);
            window.lines = 0;
        }
        if window.lines >= REFUSAL_LINES_PER_SEC {
            window.suppressed += 1;
            return;
        }
        window.lines += 1;
        std::mem::take(&mut window.suppressed)
    };
    log(suppressed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_lines_are_capped_per_second_and_counted() {
        let mut logged = Vec::new();
        for _ in 0..(REFUSAL_LINES_PER_SEC + 5) {
            refusal_log(|suppressed| logged.push(suppressed));
        }
        assert_eq!(logged.len(), REFUSAL_LINES_PER_SEC as usize);
        std::thread::sleep(Duration::from_millis(1100));
        refusal_log(|suppressed| logged.push(suppressed));
        assert_eq!(logged.last(), Some(&5));
    }

    fn request(length: Option<usize>, body: &'static str) -> Request {
        let mut builder = Request::builder().method("POST").uri("/");
        if let Some(n) = length {
            builder = builder.header(header::CONTENT_LENGTH, n);
        }
        builder.body(Body::from(body)).unwrap()
    }

    #[tokio::test]
    async fn bodies_are_read_within_the_limit() {
        let limits = Limits {
            max_body_bytes: 4,
            ..Limits::default()
        };
        let read = read_body(&limits, request(Some(4), "abcd")).await.unwrap();
        let bytes = read.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"abcd");
        assert!(matches!(
            read_body(&limits, request(Some(5), "abcde")).await,
            Err(BodyError::TooLarge(4))
        ));
        assert!(matches!(
            read_body(&limits, request(None, "abcde")).await,
            Err(BodyError::TooLarge(4))
        ));
    }
}

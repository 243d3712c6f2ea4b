//! The HTTP(S) source of a download: `GET` with `Range` to resume, `If-Range`
//! so a changed object is sent whole rather than spliced, and `HEAD` to learn
//! the size when a caller does not know it.
//!
//! This module only talks HTTP; it does not decide what to do with a `200`
//! to a ranged request (the pipeline restarts from zero) or with bytes.

use bytes::Bytes;
use reqwest::header::{self, HeaderMap};
use reqwest::{Client, StatusCode, Url};

use super::validate::redact_url;

/// Why the source failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Connecting, sending, or reading the body failed (reset, timeout).
    #[error("{url}: {source}")]
    Network {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    /// A `206` whose `Content-Range` does not start where we asked, or
    /// does not parse.
    #[error("{url}: bad Content-Range: {detail}")]
    BadRange { url: String, detail: String },
    /// `416 Range Not Satisfiable`: the server has fewer bytes than we hold.
    #[error("{url}: range starting at {offset} not satisfiable")]
    RangeNotSatisfiable { url: String, offset: u64 },
    /// The size is needed but the server does not say it.
    #[error("{url}: the server does not report the size (give it explicitly)")]
    SizeUnknown { url: String },
    /// The body ended before the set's last byte, without an error.
    #[error("{url}: body ended at byte {got} of {expected}")]
    Incomplete {
        url: String,
        got: u64,
        expected: u64,
    },
    /// The server's size differs from the task's, or it sent more bytes.
    #[error("{url}: size is {actual} bytes, expected {expected}")]
    SizeMismatch {
        url: String,
        expected: u64,
        actual: u64,
    },
}

impl SourceError {
    /// Stable error code reported to the control plane.
    pub fn code(&self) -> &'static str {
        match self {
            SourceError::Network { .. } => "Source.NetworkError",
            SourceError::Status { .. } => "Source.HttpError",
            SourceError::BadRange { .. } => "Source.BadRange",
            SourceError::RangeNotSatisfiable { .. } => "Source.RangeNotSatisfiable",
            SourceError::SizeUnknown { .. } => "Source.SizeUnknown",
            SourceError::Incomplete { .. } => "Source.Incomplete",
            SourceError::SizeMismatch { .. } => "Source.SizeMismatch",
        }
    }

    /// True when trying again may help: network trouble, 5xx, 408, 429, a
    /// garbled range. A 403 (expired URL) or 404 needs a new task.
    pub fn is_retryable(&self) -> bool {
        match self {
            SourceError::Network { .. }
            | SourceError::BadRange { .. }
            | SourceError::Incomplete { .. } => true,
            SourceError::Status { status, .. } => {
                *status >= 500 || *status == 408 || *status == 429
            }
            _ => false,
        }
    }
}

/// One URL to download from.
#[derive(Debug, Clone)]
pub struct HttpSource {
    client: Client,
    url: Url,
    shown: String,
}

/// An open response body and what its headers said.
#[derive(Debug)]
pub struct SourceBody {
    /// Offset of the first byte of the body in the set.
    pub start: u64,
    /// Size of the whole set, when the server says it.
    pub total: Option<u64>,
    /// A validator for `If-Range` on the next request (strong ETag, else
    /// Last-Modified).
    pub validator: Option<String>,
    response: reqwest::Response,
    shown: String,
}

impl SourceBody {
    /// The next chunk of the body, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, SourceError> {
        self.response
            .chunk()
            .await
            .map_err(|source| SourceError::Network {
                url: self.shown.clone(),
                source,
            })
    }
}

impl HttpSource {
    /// A source for `url` using `client` (which holds timeouts and proxy).
    pub fn new(client: Client, url: Url) -> Self {
        let shown = redact_url(&url);
        HttpSource { client, url, shown }
    }

    /// The URL as shown in messages (no query string).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    fn network(&self, source: reqwest::Error) -> SourceError {
        SourceError::Network {
            url: self.shown.clone(),
            source: source.without_url(),
        }
    }

    /// The size from a `HEAD` request's `Content-Length`.
    pub async fn size(&self) -> Result<u64, SourceError> {
        let resp = self
            .client
            .head(self.url.clone())
            .send()
            .await
            .map_err(|e| self.network(e))?;
        if !resp.status().is_success() {
            return Err(SourceError::Status {
                url: self.shown.clone(),
                status: resp.status().as_u16(),
            });
        }
        content_length(resp.headers()).ok_or_else(|| SourceError::SizeUnknown {
            url: self.shown.clone(),
        })
    }

    /// `GET` from `offset` (with `Range` when it is not 0, and `If-Range`
    /// when a validator is known). The body starts at [`SourceBody::start`]:
    /// `offset` for a `206`, 0 when the server sent the whole object.
    pub async fn open(
        &self,
        offset: u64,
        if_range: Option<&str>,
    ) -> Result<SourceBody, SourceError> {
        let mut req = self.client.get(self.url.clone());
        if offset > 0 {
            req = req.header(header::RANGE, format!("bytes={offset}-"));
            if let Some(v) = if_range {
                req = req.header(header::IF_RANGE, v);
            }
        }
        let response = req.send().await.map_err(|e| self.network(e))?;
        let headers = response.headers();
        let validator = validator(headers);
        let (start, total) = match response.status() {
            StatusCode::PARTIAL_CONTENT => {
                let (start, total) =
                    content_range(headers).ok_or_else(|| SourceError::BadRange {
                        url: self.shown.clone(),
                        detail: format!("{:?}", headers.get(header::CONTENT_RANGE)),
                    })?;
                if start != offset {
                    return Err(SourceError::BadRange {
                        url: self.shown.clone(),
                        detail: format!("starts at {start}, asked for {offset}"),
                    });
                }
                (start, total)
            }
            StatusCode::OK => (0, content_length(headers)),
            StatusCode::RANGE_NOT_SATISFIABLE => {
                return Err(SourceError::RangeNotSatisfiable {
                    url: self.shown.clone(),
                    offset,
                })
            }
            status => {
                return Err(SourceError::Status {
                    url: self.shown.clone(),
                    status: status.as_u16(),
                })
            }
        };
        Ok(SourceBody {
            start,
            total,
            validator,
            response,
            shown: self.shown.clone(),
        })
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn validator(headers: &HeaderMap) -> Option<String> {
    let etag = headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.starts_with("W/"));
    etag.or_else(|| {
        headers
            .get(header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
    })
    .map(str::to_owned)
}

/// Parses `Content-Range: bytes START-END/TOTAL` (TOTAL may be `*`).
fn content_range(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    parse_content_range(headers.get(header::CONTENT_RANGE)?.to_str().ok()?)
}

fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    if end < start {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_forms() {
        assert_eq!(
            parse_content_range("bytes 10-99/100"),
            Some((10, Some(100)))
        );
        assert_eq!(parse_content_range("bytes 0-0/*"), Some((0, None)));
        assert_eq!(parse_content_range("bytes 5-4/100"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(parse_content_range("bytes x-1/2"), None);
    }

    #[test]
    fn retryable_statuses() {
        let s = |status| SourceError::Status {
            url: String::new(),
            status,
        };
        assert!(s(503).is_retryable());
        assert!(s(429).is_retryable());
        assert!(!s(403).is_retryable());
        assert!(!s(404).is_retryable());
    }
}

//! The HTTP(S) source of a download: `GET` with `Range` to resume, `If-Range`
//! so a changed object is sent whole rather than spliced, and `HEAD` to learn
//! the size when a caller does not know it.
//!
//! This module only talks HTTP; it does not decide what to do with a `200`
//! to a ranged request (the pipeline restarts from zero) or with bytes.

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::header::{self, HeaderMap};
use reqwest::{Client, StatusCode, Url};

use super::{Source, SourceBody, SourceError};

/// One URL to download from.
#[derive(Debug, Clone)]
pub struct HttpSource {
    client: Client,
    url: Url,
    shown: String,
}

impl HttpSource {
    /// A source for `url` using `client` (which holds timeouts and proxy).
    pub fn new(client: Client, url: Url) -> Self {
        let shown = redact_url(&url);
        HttpSource { client, url, shown }
    }

    fn network(&self, source: reqwest::Error) -> SourceError {
        SourceError::Network {
            url: self.shown.clone(),
            source: source.without_url(),
        }
    }
}

#[async_trait]
impl Source for HttpSource {
    /// The URL without its query string.
    fn shown(&self) -> &str {
        &self.shown
    }

    /// The size from a `HEAD` request's `Content-Length`.
    async fn size(&self) -> Result<u64, SourceError> {
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
    async fn open(&self, offset: u64, if_range: Option<&str>) -> Result<SourceBody, SourceError> {
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
        let shown = self.shown.clone();
        let bytes = response
            .bytes_stream()
            .map(move |chunk| {
                chunk.map_err(|source| SourceError::Network {
                    url: shown.clone(),
                    source,
                })
            })
            .boxed();
        Ok(SourceBody {
            start,
            total,
            validator,
            bytes,
        })
    }
}

/// The URL without query string or fragment, for logs and messages: a
/// signed URL's query holds its signature.
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
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
}

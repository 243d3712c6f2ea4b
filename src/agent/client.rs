//! The agent's client of the control plane: signed (v1) form POSTs over
//! reqwest, through the configured proxy only, with JSON answers of at most
//! [`MAX_ANSWER_BYTES`]. Plain `http://` is refused unless the endpoint is
//! loopback or `control.allow_insecure_http` is set.

use std::time::Duration;

use chrono::Utc;
use serde::de::DeserializeOwned;

use crate::api::gateway::Request;
use crate::api::{sign, API_VERSION, TIMESTAMP_FORMAT};
use crate::config::ControlConfig;
use crate::secret::Secret;

/// Largest answer read from the control plane; a longer one is refused
/// as soon as it passes this size (the body is never buffered whole).
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The control plane could not be reached or did not answer in time.
    #[error("control plane unreachable: {0}")]
    Transport(String),
    /// The control plane answered with an error.
    #[error("{code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Error code.
        code: String,
        /// Error message.
        message: String,
    },
    /// The answer was not what the action returns.
    #[error("unexpected answer from the control plane: {0}")]
    Decode(String),
    /// The answer was longer than [`MAX_ANSWER_BYTES`].
    #[error("answer from the control plane exceeds {} MiB; refused", MAX_ANSWER_BYTES >> 20)]
    TooLarge,
    /// `control.endpoint` is plain HTTP to a host that is not loopback.
    #[error("control.endpoint {0}: plain http:// to a host that is not loopback is refused (the AccessKey's signatures, tasks and set URLs would cross the network in clear); use https://, or set control.allow_insecure_http = true")]
    Insecure(String),
}

impl ClientError {
    /// Whether trying again later can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport(_) => true,
            ClientError::Api { status, .. } => *status >= 500 || *status == 429,
            ClientError::Decode(_) | ClientError::TooLarge => true,
            ClientError::Insecure(_) => false,
        }
    }

    /// The API error code, when the control plane answered one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A signed client of one control plane.
#[derive(Clone)]
pub struct ControlClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    access_key_id: String,
    secret: Secret,
    timeout: Duration,
}

impl ControlClient {
    /// Builds the client; environment proxies are ignored, `control.proxy` is
    /// used. A plain `http://` endpoint that is not loopback is refused
    /// unless `control.allow_insecure_http` is set.
    pub fn new(config: &ControlConfig, secret: Secret) -> Result<Self, ClientError> {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .user_agent(concat!("dbs-gateway/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90));
        if let Some(proxy) = &config.proxy {
            let proxy = reqwest::Proxy::all(proxy)
                .map_err(|e| ClientError::Transport(format!("control.proxy: {e}")))?;
            builder = builder.proxy(proxy);
        }
        let endpoint = reqwest::Url::parse(&config.endpoint)
            .map_err(|e| ClientError::Transport(format!("control.endpoint: {e}")))?;
        if endpoint.scheme() == "http" && !config.allow_insecure_http && !is_loopback(&endpoint) {
            return Err(ClientError::Insecure(config.endpoint.clone()));
        }
        Ok(ControlClient {
            http: builder
                .build()
                .map_err(|e| ClientError::Transport(e.to_string()))?,
            endpoint,
            access_key_id: config.access_key_id.clone(),
            secret,
            timeout: Duration::from_secs(config.request_timeout_secs),
        })
    }

    /// The control plane's URL.
    pub fn endpoint(&self) -> &reqwest::Url {
        &self.endpoint
    }

    /// Sends a gateway request; `extra_wait` extends the timeout (long polls).
    pub async fn send<R: Request>(
        &self,
        request: &R,
        extra_wait: Duration,
    ) -> Result<R::Response, ClientError> {
        self.call(R::ACTION, &request.to_params(), extra_wait).await
    }

    /// Calls `action` with `params`; `extra_wait` extends the timeout (long polls).
    pub async fn call<T: DeserializeOwned>(
        &self,
        action: &str,
        params: &[(&str, String)],
        extra_wait: Duration,
    ) -> Result<T, ClientError> {
        let form = self.signed("POST", action, params);
        let body =
            serde_urlencoded::to_string(&form).map_err(|e| ClientError::Decode(e.to_string()))?;
        let response = self
            .http
            .post(self.endpoint.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .timeout(self.timeout + extra_wait)
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.without_url().to_string()))?;
        answer(response).await
    }

    /// The parameters of an `action` call with `params`, v1-signed for the
    /// HTTP `method` (nonce, timestamp and signature included).
    pub fn signed(
        &self,
        method: &str,
        action: &str,
        params: &[(&str, String)],
    ) -> Vec<(String, String)> {
        let nonce = uuid::Uuid::new_v4().to_string();
        let timestamp = Utc::now().format(TIMESTAMP_FORMAT).to_string();
        let mut signed: Vec<(String, String)> = [
            ("Action", action),
            ("Version", API_VERSION),
            ("Format", "JSON"),
            ("AccessKeyId", &self.access_key_id),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", &nonce),
            ("Timestamp", &timestamp),
        ]
        .into_iter()
        .chain(params.iter().map(|(k, v)| (*k, v.as_str())))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let signature = sign::sign_v1(
            method,
            signed.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            self.secret.expose(),
        );
        signed.push(("Signature".into(), signature));
        signed
    }

    /// The HTTP client (its proxy and timeouts as configured).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// How long one request may take (`control.request_timeout_secs`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// The JSON answer of `response`, or the control plane's error.
pub async fn answer<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
    let status = response.status();
    let bytes = read_capped(response).await?;
    if !status.is_success() {
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let field = |name: &str| value[name].as_str().unwrap_or_default().to_string();
        return Err(ClientError::Api {
            status: status.as_u16(),
            code: Some(field("Code"))
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| format!("HTTP{}", status.as_u16())),
            message: field("Message"),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
}

/// Whether the endpoint's host is loopback: `localhost`, 127.0.0.0/8, ::1.
fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The body of `response`, refused past [`MAX_ANSWER_BYTES`]: a declared
/// length is checked first, then the bytes are counted as they arrive.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, ClientError> {
    if response
        .content_length()
        .is_some_and(|len| len > MAX_ANSWER_BYTES as u64)
    {
        return Err(ClientError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ClientError::Transport(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ClientError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for (url, loopback) in [
            ("http://127.0.0.1:8080", true),
            ("http://127.8.9.10", true),
            ("http://[::1]:80", true),
            ("http://LocalHost:1", true),
            ("http://192.0.2.1:8080", false),
            ("http://localhost.example.com", false),
            ("http://[::ffff:192.0.2.1]", false),
        ] {
            let url = reqwest::Url::parse(url).unwrap();
            assert_eq!(is_loopback(&url), loopback, "{url}");
        }
    }
}

//! The agent's client of the control plane: signed (v1) form POSTs over
//! reqwest, through the configured proxy only, with JSON answers.

use std::time::Duration;

use chrono::Utc;
use serde::de::DeserializeOwned;

use crate::api::{sign, API_VERSION, TIMESTAMP_FORMAT};
use crate::config::{ControlConfig, Secret};

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
}

impl ClientError {
    /// Whether trying again later can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport(_) => true,
            ClientError::Api { status, .. } => *status >= 500 || *status == 429,
            ClientError::Decode(_) => true,
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
    /// Builds the client; environment proxies are ignored, `control.proxy` is used.
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

    /// Calls `action` with `params`; `extra_wait` extends the timeout (long polls).
    pub async fn call<T: DeserializeOwned>(
        &self,
        action: &str,
        params: &[(&str, String)],
        extra_wait: Duration,
    ) -> Result<T, ClientError> {
        let nonce = uuid::Uuid::new_v4().to_string();
        let timestamp = Utc::now().format(TIMESTAMP_FORMAT).to_string();
        let mut form: Vec<(&str, &str)> = vec![
            ("Action", action),
            ("Version", API_VERSION),
            ("Format", "JSON"),
            ("AccessKeyId", &self.access_key_id),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", &nonce),
            ("Timestamp", &timestamp),
        ];
        form.extend(params.iter().map(|(k, v)| (*k, v.as_str())));
        let signature = sign::sign_v1("POST", form.iter().copied(), self.secret.expose());
        form.push(("Signature", &signature));
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
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(e.without_url().to_string()))?;
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
}

//! Authentication of incoming calls: signature v1 or v3, the AccessKey, the
//! timestamp window and nonce reuse.
//!
//! Checks run in this order, so that only well-signed calls touch the nonce
//! table: required parameters, known AccessKey, signature, enabled key,
//! timestamp, nonce. A v3 call must sign `host` and every `x-acs-*` header
//! it carries, `x-acs-action`, `x-acs-version`, `x-acs-date` and
//! `x-acs-signature-nonce` among them, so none can be swapped on replay.

use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDateTime, Utc};

use crate::api::sign::{self, V3Request};
use crate::api::{bounds, ApiError, MAX_CLOCK_SKEW_SECS, TIMESTAMP_FORMAT};

use super::keys::{self, Role};
use super::store::{self, Store};

/// Headers a v3 signature must cover.
const V3_REQUIRED_SIGNED_HEADERS: [&str; 5] = [
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
];

/// Who made an authenticated call.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The AccessKeyId that signed it.
    pub access_key_id: String,
    /// What that key may call.
    pub role: Role,
    /// The gateway identifier a gateway key is bound to, once bound.
    pub gateway: Option<String>,
}

/// An incoming call, as the server parsed it.
pub struct RawCall<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// Decoded query parameters.
    pub query: &'a [(String, String)],
    /// Decoded form-body parameters.
    pub form: &'a [(String, String)],
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The raw body.
    pub body: &'a [u8],
}

/// What the signature check needs once the secret is known.
enum Signed {
    V1 {
        signature: String,
    },
    V3 {
        authorization: sign::V3Authorization,
    },
}

/// Authenticates a call; returns who made it.
pub async fn authenticate(store: &Store, call: &RawCall<'_>) -> Result<Caller, ApiError> {
    let (key_id, timestamp, nonce, signed) = match call.headers.get("authorization") {
        Some(auth) => {
            let auth = auth.to_str().unwrap_or_default();
            let authorization = sign::parse_v3_authorization(auth).ok_or_else(|| {
                ApiError::new(
                    400,
                    "IncompleteSignature",
                    "The Authorization header is not an ACS3-HMAC-SHA256 signature.",
                )
            })?;
            let timestamp = header(call.headers, "x-acs-date")?;
            let nonce = header(call.headers, "x-acs-signature-nonce")?;
            (
                authorization.credential.clone(),
                timestamp,
                nonce,
                Signed::V3 { authorization },
            )
        }
        None => {
            let param = |name: &str| -> Result<String, ApiError> {
                find(call.query, name)
                    .or_else(|| find(call.form, name))
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::missing(name))
            };
            let key_id = param("AccessKeyId")?;
            let signature = param("Signature")?;
            let method = param("SignatureMethod")?;
            if method != "HMAC-SHA1" {
                return Err(ApiError::new(
                    400,
                    "InvalidSignatureMethod",
                    format!("SignatureMethod {method} is not supported; use HMAC-SHA1."),
                ));
            }
            let version = param("SignatureVersion")?;
            if version != "1.0" {
                return Err(ApiError::new(
                    400,
                    "InvalidSignatureVersion",
                    format!("SignatureVersion {version} is not supported; use 1.0."),
                ));
            }
            (
                key_id,
                param("Timestamp")?,
                param("SignatureNonce")?,
                Signed::V1 { signature },
            )
        }
    };

    bounds::token(&key_id).map_err(|e| ApiError::invalid("AccessKeyId", e))?;
    bounds::token(&nonce).map_err(|e| ApiError::invalid("SignatureNonce", e))?;
    let lookup_id = key_id.clone();
    let key = store
        .call(move |c| keys::get(c, &lookup_id))
        .await
        .map_err(|error| {
            tracing::error!(%error, access_key_id = %key_id, "store failure while looking up the AccessKey");
            ApiError::internal()
        })?
        .ok_or_else(|| {
            ApiError::not_found(
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            )
        })?;

    let now = store::now_ms();
    let mismatch = "Specified signature does not match our calculation.";
    match &signed {
        Signed::V1 { signature } => {
            let params = call
                .query
                .iter()
                .chain(call.form.iter())
                .filter(|(k, _)| k != "Signature")
                .map(|(k, v)| (k.as_str(), v.as_str()));
            let string_to_sign = sign::string_to_sign_v1(call.method, params);
            let matches = key.secrets_at(now).any(|secret| {
                sign::signatures_equal(&sign::sign_string_v1(&string_to_sign, secret), signature)
            });
            if !matches {
                // The string to sign lets v1 SDKs tell a wrong secret from a
                // wrong canonicalization; it holds no secret.
                return Err(ApiError::new(
                    400,
                    "SignatureDoesNotMatch",
                    format!("{mismatch} server string to sign is:{string_to_sign}"),
                ));
            }
        }
        Signed::V3 { authorization } => {
            let mut matches = false;
            for secret in key.secrets_at(now) {
                matches |= verify_v3(call, authorization, secret)?;
            }
            if !matches {
                return Err(ApiError::new(400, "SignatureDoesNotMatch", mismatch));
            }
        }
    }
    if key.disabled {
        return Err(ApiError::new(
            403,
            "InvalidAccessKeyId.Inactive",
            "Specified access key is disabled.",
        ));
    }

    let expires_ms = check_timestamp(&timestamp, Utc::now())?;
    let nonce_key = key.id.clone();
    let fresh = store
        .call(move |c| store::record_nonce(c, &nonce_key, &nonce, expires_ms))
        .await
        .map_err(|error| {
            tracing::error!(%error, access_key_id = %key.id, "store failure while recording a nonce");
            ApiError::internal()
        })?;
    if !fresh {
        return Err(ApiError::new(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    Ok(Caller {
        access_key_id: key.id,
        role: key.role,
        gateway: key.gateway,
    })
}

fn verify_v3(
    call: &RawCall<'_>,
    authorization: &sign::V3Authorization,
    secret: &str,
) -> Result<bool, ApiError> {
    let payload_sha256 = sign::sha256_hex(call.body);
    if let Some(claimed) = call.headers.get("x-acs-content-sha256") {
        if claimed.as_bytes() != payload_sha256.as_bytes() {
            return Err(ApiError::new(
                400,
                "InvalidContentSha256",
                "x-acs-content-sha256 does not match the body.",
            ));
        }
    }
    let signed = &authorization.signed_headers;
    let unsigned = V3_REQUIRED_SIGNED_HEADERS
        .iter()
        .copied()
        .chain(
            call.headers
                .keys()
                .map(|name| name.as_str())
                .filter(|name| name.starts_with("x-acs-")),
        )
        .find(|name| !signed.iter().any(|s| s == name));
    if let Some(name) = unsigned {
        return Err(ApiError::new(
            400,
            "IncompleteSignature",
            format!("Header {name} must be signed (listed in SignedHeaders)."),
        ));
    }
    let mut headers = Vec::with_capacity(signed.len());
    for name in &authorization.signed_headers {
        let values: Vec<&str> = call
            .headers
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(ApiError::new(
                400,
                "IncompleteSignature",
                format!("Signed header {name} is not in the request."),
            ));
        }
        headers.push((name.clone(), values.join(",")));
    }
    let request = V3Request {
        method: call.method,
        path: "/",
        query: call
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        headers,
        payload_sha256: &payload_sha256,
    };
    let (expected, _) = sign::sign_v3(&request, secret);
    Ok(sign::signatures_equal(&expected, &authorization.signature))
}

fn header(headers: &HeaderMap, name: &str) -> Result<String, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| ApiError::missing(name))
}

fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Refuses a timestamp that is malformed or more than 15 minutes off;
/// returns the last moment (ms since the epoch) it is accepted, which is
/// how long its nonce must be remembered.
pub fn check_timestamp(timestamp: &str, now: DateTime<Utc>) -> Result<i64, ApiError> {
    let parsed = NaiveDateTime::parse_from_str(timestamp, TIMESTAMP_FORMAT).map_err(|_| {
        ApiError::new(
            400,
            "InvalidTimeStamp.Format",
            format!("Timestamp {timestamp} is not in the format YYYY-MM-DDThh:mm:ssZ (UTC)."),
        )
    })?;
    let skew = (now.naive_utc() - parsed).num_seconds().abs();
    if skew > MAX_CLOCK_SKEW_SECS {
        return Err(ApiError::new(
            400,
            "InvalidTimeStamp.Expired",
            format!("Timestamp {timestamp} is {skew} s away from the server's clock (at most {MAX_CLOCK_SKEW_SECS} s)."),
        ));
    }
    Ok(parsed.and_utc().timestamp_millis() + MAX_CLOCK_SKEW_SECS * 1000)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Log lines written while it is the thread's subscriber.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    /// A v1-signed call's parameters for `key`.
    fn signed_params(key_id: &str, secret: &str) -> Vec<(String, String)> {
        let timestamp = Utc::now().format(TIMESTAMP_FORMAT).to_string();
        let mut params: Vec<(String, String)> = [
            ("Action", "DescribeRegions"),
            ("AccessKeyId", key_id),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", "nonce-1"),
            ("Timestamp", &timestamp),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let signature = sign::sign_v1(
            "POST",
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            secret,
        );
        params.push(("Signature".into(), signature));
        params
    }

    #[tokio::test]
    async fn store_failures_are_logged_with_the_key_and_answered_as_internal() {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open(dir.path()).unwrap();
        let key = store
            .call_now(|c| keys::create(c, Role::User, None, store::now_ms()))
            .unwrap();
        let secret = key.secrets_at(store::now_ms()).next().unwrap().to_string();
        let form = signed_params(&key.id, &secret);
        let headers = HeaderMap::new();
        let call = RawCall {
            method: "POST",
            query: &[],
            form: &form,
            headers: &headers,
            body: b"",
        };
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        // Breaks a table, then checks the call is refused as internal and
        // the log says which step failed, for which key.
        for (table, step) in [
            ("signature_nonces", "store failure while recording a nonce"),
            (
                "access_keys",
                "store failure while looking up the AccessKey",
            ),
        ] {
            let sql = format!("ALTER TABLE {table} RENAME TO gone_{table}");
            store.call_now(|c| c.execute_batch(&sql)).unwrap();
            let refused = authenticate(&store, &call).await.unwrap_err();
            assert_eq!(
                (refused.status, refused.code.as_str()),
                (500, "InternalError")
            );
            let text = logs.text();
            let line = text.lines().find(|l| l.contains(step));
            assert!(line.is_some_and(|l| l.contains(&key.id)), "{text}");
        }
        let text = logs.text();
        assert!(!text.contains(&secret), "the secret was logged: {text}");
    }

    #[test]
    fn timestamps_outside_the_window_are_refused() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        // Its nonce is kept while the timestamp is accepted: 15 min past it.
        assert_eq!(
            check_timestamp("2026-11-25T10:14:00Z", now).unwrap(),
            DateTime::parse_from_rfc3339("2026-11-25T10:29:00Z")
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(
            check_timestamp("2026-11-25T10:16:00Z", now)
                .unwrap_err()
                .code,
            "InvalidTimeStamp.Expired"
        );
        assert_eq!(
            check_timestamp("yesterday", now).unwrap_err().code,
            "InvalidTimeStamp.Format"
        );
    }
}

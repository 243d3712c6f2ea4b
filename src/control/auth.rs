//! Authentication of incoming calls: signature v1 or v3, the AccessKey, the
//! timestamp window and nonce reuse.
//!
//! Checks run in this order, so that only well-signed calls touch the nonce
//! table: required parameters, known AccessKey, signature, timestamp, nonce.

use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDateTime, Utc};

use crate::api::sign::{self, V3Request};
use crate::api::{ApiError, MAX_CLOCK_SKEW_SECS, TIMESTAMP_FORMAT};

use super::store::{self, Store};

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

/// Authenticates a call; returns the AccessKeyId on success.
pub async fn authenticate(store: &Store, call: &RawCall<'_>) -> Result<String, ApiError> {
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

    let lookup_id = key_id.clone();
    let secret = store
        .call(move |c| store::access_key_secret(c, &lookup_id))
        .await
        .map_err(|_| ApiError::internal())?
        .ok_or_else(|| {
            ApiError::not_found(
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            )
        })?;

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
            if !sign::signatures_equal(&sign::sign_string_v1(&string_to_sign, &secret), signature) {
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
            if !verify_v3(call, authorization, &secret)? {
                return Err(ApiError::new(400, "SignatureDoesNotMatch", mismatch));
            }
        }
    }

    check_timestamp(&timestamp, Utc::now())?;
    let now = store::now_ms();
    let fresh = store
        .call(move |c| store::record_nonce(c, &nonce, now))
        .await
        .map_err(|_| ApiError::internal())?;
    if !fresh {
        return Err(ApiError::new(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    Ok(key_id)
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
    let mut headers = Vec::with_capacity(authorization.signed_headers.len());
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

/// Refuses a timestamp that is malformed or more than 15 minutes off.
pub fn check_timestamp(timestamp: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_outside_the_window_are_refused() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(check_timestamp("2026-11-25T10:14:00Z", now).is_ok());
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

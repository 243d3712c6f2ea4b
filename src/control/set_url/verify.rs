//! Checking a signed set URL's `Expires` and `Signature`.

use hmac::Mac;

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
    super::mac(key, set_id, expires)
        .verify_slice(&given)
        .map_err(|_| UrlError::BadSignature)?;
    if expires < now_s {
        return Err(UrlError::Expired(expires));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::set_url::signature;

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
}

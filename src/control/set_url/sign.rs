//! Making signed set URLs.

use std::time::Duration;

use hmac::Mac;

/// Hex HMAC-SHA256 of `{set_id}\n{expires}`.
pub fn signature(key: &[u8], set_id: &str, expires: i64) -> String {
    hex::encode(super::mac(key, set_id, expires).finalize().into_bytes())
}

/// `{base}/sets/{set_id}?Expires=…&Signature=…`; only the path and query
/// when `base` is `None`.
pub fn url(base: Option<&str>, set_id: &str, expires: i64, signature: &str) -> String {
    let base = base.unwrap_or("").trim_end_matches('/');
    format!("{base}/sets/{set_id}?Expires={expires}&Signature={signature}")
}

/// A URL of a set signed with `key`, valid for `ttl` from `now_ms`.
pub fn signed_url(
    key: &[u8],
    base: Option<&str>,
    set_id: &str,
    now_ms: i64,
    ttl: Duration,
) -> String {
    let expires = now_ms / 1000 + ttl.as_secs() as i64;
    url(base, set_id, expires, &signature(key, set_id, expires))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

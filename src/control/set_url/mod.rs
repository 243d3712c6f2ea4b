//! Signed, expiring URLs of backup sets' bytes:
//! `{base}/sets/{BackupSetId}?Expires={unix seconds}&Signature={hex}`.
//!
//! The signature is HMAC-SHA256 over `{BackupSetId}\n{Expires}` with the
//! data dir's key (kept by [`super::catalog::meta`]). [`sign`] makes URLs,
//! [`verify`] checks them; the route that serves the bytes is
//! [`super::server::sets`]. Pure: no store, no HTTP.

pub mod sign;
pub mod verify;

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use sign::{signature, signed_url, url};
pub use verify::{verify, UrlError};

/// Lifetime of the URL in a download task.
pub const TASK_URL_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Lifetime of the URL shown by DescribeBackupSetDownloadTaskList.
pub const LIST_URL_TTL: Duration = Duration::from_secs(24 * 3600);

type HmacSha256 = Hmac<Sha256>;

/// The MAC of `{set_id}\n{expires}`, for signing and for checking.
fn mac(key: &[u8], set_id: &str, expires: i64) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{set_id}\n{expires}").as_bytes());
    mac
}

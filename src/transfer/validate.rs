//! Checks a download task before any byte moves: a known location, a safe
//! path, an allowed URL and a well-formed size and checksum.
//!
//! A URL is allowed by its origin (scheme, host and port): the control
//! plane's own, or one listed in `transfer.allowed_url_hosts`, where an
//! entry is an origin (`https://cdn.example:8443`) or a bare host, which
//! means that host on the default port of `http` (80) or `https` (443).
//!
//! [`validate`] turns the wire's [`DownloadSpec`] into a [`ValidTask`] or
//! names the first field that is wrong.

use reqwest::Url;

use super::checksum::Checksum;
use crate::api::gateway::DownloadSpec;
use crate::api::layout::{set_layout, PathError, RelPath};

/// A download task that passed [`validate`]: what the pipeline needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidTask {
    /// The parsed URL.
    pub url: Url,
    /// The location name, one of the configured targets.
    pub location: String,
    /// `{dir}/{backup_plan_id}/{full|increment}/{set_name}`.
    pub path: RelPath,
    /// Size in bytes.
    pub size: u64,
    /// Expected checksum.
    pub checksum: Checksum,
}

/// Why a task was refused. Never retryable: the same task fails the same way.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ValidateError {
    /// The location is not one this gateway has configured.
    #[error("location {location:?} is not configured on this gateway (configured: {configured})")]
    UnknownLocation {
        location: String,
        configured: String,
    },
    /// A directory or name field is unsafe.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The URL does not parse.
    #[error("download URL does not parse: {0}")]
    BadUrl(String),
    /// The URL's scheme is not http or https.
    #[error("download URL scheme {0:?} is not allowed (http or https only)")]
    Scheme(String),
    /// The URL's origin is not the control plane's nor one of
    /// `transfer.allowed_url_hosts`.
    #[error("download URL origin {origin} is not allowed (allowed: {allowed})")]
    OriginNotAllowed { origin: String, allowed: String },
    /// The URL carries a user name or password.
    #[error("download URL must not carry credentials")]
    Credentials,
    /// The checksum is not an unsigned 64-bit decimal.
    #[error("crc64 {0:?} is not an unsigned 64-bit decimal")]
    BadChecksum(String),
}

impl ValidateError {
    /// Stable error code reported to the control plane.
    pub fn code(&self) -> &'static str {
        match self {
            ValidateError::UnknownLocation { .. } => "Task.UnknownLocation",
            ValidateError::Path(e) => e.code(),
            ValidateError::BadUrl(_) => "Task.InvalidUrl",
            ValidateError::Scheme(_) => "Task.UrlSchemeNotAllowed",
            ValidateError::OriginNotAllowed { .. } => "Task.UrlHostNotAllowed",
            ValidateError::Credentials => "Task.UrlHasCredentials",
            ValidateError::BadChecksum(_) => "Task.InvalidChecksum",
        }
    }

    /// A refused task stays refused.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Checks `task` as the control plane sent it. `locations` are the configured target names;
/// `allowed_hosts` is `transfer.allowed_url_hosts`, and when it is empty
/// only the origin of `control` (the control plane's URL) is allowed.
pub fn validate(
    task: &DownloadSpec,
    locations: &[&str],
    allowed_hosts: &[String],
    control: &str,
) -> Result<ValidTask, ValidateError> {
    if !locations.contains(&task.location.as_str()) {
        return Err(ValidateError::UnknownLocation {
            location: task.location.clone(),
            configured: locations.join(", "),
        });
    }
    let path = set_layout(&task.dir, &task.backup_plan_id, task.kind, &task.set_name)?;
    let url = check_url(&task.url, allowed_hosts, control)?;
    let checksum = Checksum::parse_crc64(&task.crc64)
        .ok_or_else(|| ValidateError::BadChecksum(task.crc64.clone()))?;
    Ok(ValidTask {
        url,
        location: task.location.clone(),
        path,
        size: task.size,
        checksum,
    })
}

/// Parses `url` and checks its scheme and origin (see [`validate`]).
pub fn check_url(url: &str, allowed_hosts: &[String], control: &str) -> Result<Url, ValidateError> {
    let parsed = Url::parse(url).map_err(|e| ValidateError::BadUrl(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ValidateError::Scheme(parsed.scheme().to_owned()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ValidateError::Credentials);
    }
    let control = [control.to_owned()];
    let allowed = if allowed_hosts.is_empty() {
        &control[..]
    } else {
        allowed_hosts
    };
    let origin = parsed.origin().ascii_serialization();
    let origins: Vec<String> = allowed.iter().flat_map(|e| entry_origins(e)).collect();
    if !origins.contains(&origin) {
        return Err(ValidateError::OriginNotAllowed {
            origin,
            allowed: origins.join(", "),
        });
    }
    Ok(parsed)
}

/// The origins an `allowed_url_hosts` entry stands for: an origin or URL
/// for itself, a bare host for `http://host:80` and `https://host:443`.
/// An entry that does not parse stands for none. Origins are serialized
/// (`https://host`, `http://host:8080`: lower-case host, no default port).
pub fn entry_origins(entry: &str) -> Vec<String> {
    let entry = entry.trim();
    if entry.contains("://") {
        return Url::parse(entry)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .map(|u| vec![u.origin().ascii_serialization()])
            .unwrap_or_default();
    }
    if entry.is_empty() || entry.contains(['/', '@', ' ', '?', '#']) {
        return Vec::new();
    }
    ["http", "https"]
        .iter()
        .filter_map(|scheme| Url::parse(&format!("{scheme}://{entry}")).ok())
        .filter(|u| u.port().is_none() && u.path() == "/")
        .map(|u| u.origin().ascii_serialization())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::layout::SetKind;
    use crate::transfer::sources::http::redact_url;

    fn task() -> DownloadSpec {
        DownloadSpec {
            backup_set_id: "set1".into(),
            url: "http://control.example:8080/sets/1?Expires=1&Signature=abc".into(),
            location: "local".into(),
            dir: "dl".into(),
            backup_plan_id: "plan1".into(),
            kind: SetKind::Full,
            set_name: "full.xb".into(),
            size: 10,
            crc64: "11051210869376104954".into(),
        }
    }

    fn check(t: &DownloadSpec, allowed: &[&str]) -> Result<ValidTask, ValidateError> {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        validate(
            t,
            &["local", "nas"],
            &allowed,
            "http://control.example:8080/",
        )
    }

    #[test]
    fn a_good_task_passes() {
        let v = check(&task(), &[]).unwrap();
        assert_eq!(v.path.as_slash_path(), "dl/plan1/full/full.xb");
        assert_eq!(v.checksum, Checksum::Crc64(0x995D_C9BB_DF19_39FA));
        assert_eq!(redact_url(&v.url), "http://control.example:8080/sets/1");
    }

    /// Changes one field of a good task.
    type Spoil = fn(&mut DownloadSpec);

    #[test]
    fn each_bad_field_has_its_code() {
        let cases: Vec<(Spoil, &str)> = vec![
            (|t| t.location = "tape".into(), "Task.UnknownLocation"),
            (|t| t.dir = "../etc".into(), "InvalidPath.Traversal"),
            (|t| t.dir = "/etc".into(), "InvalidPath.Absolute"),
            (
                |t| t.set_name = "a\u{1b}[2J".into(),
                "InvalidPath.BadCharacter",
            ),
            (|t| t.set_name = "a/b".into(), "InvalidPath.Traversal"),
            (|t| t.backup_plan_id = "".into(), "InvalidPath.Empty"),
            (|t| t.url = "not a url".into(), "Task.InvalidUrl"),
            (
                |t| t.url = "file:///etc/passwd".into(),
                "Task.UrlSchemeNotAllowed",
            ),
            (
                |t| t.url = "ftp://control.example/x".into(),
                "Task.UrlSchemeNotAllowed",
            ),
            (
                |t| t.url = "http://evil.example/x".into(),
                "Task.UrlHostNotAllowed",
            ),
            (
                |t| t.url = "http://u:p@control.example/x".into(),
                "Task.UrlHasCredentials",
            ),
            (|t| t.crc64 = "xyz".into(), "Task.InvalidChecksum"),
            (|t| t.crc64 = "-1".into(), "Task.InvalidChecksum"),
        ];
        for (spoil, code) in cases {
            let mut t = task();
            spoil(&mut t);
            let err = check(&t, &[]).unwrap_err();
            assert_eq!(err.code(), code, "{t:?}");
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn allowed_hosts_replace_the_control_origin() {
        let mut t = task();
        t.url = "https://CDN.example/x".into();
        assert!(check(&t, &["cdn.example"]).is_ok());
        t.url = "http://control.example:8080/x".into();
        assert_eq!(
            check(&t, &["cdn.example"]).unwrap_err().code(),
            "Task.UrlHostNotAllowed"
        );
        t.url = "http://[::1]:9/x".into();
        assert!(validate(&t, &["local"], &[], "http://[::1]:9").is_ok());
    }

    #[test]
    fn the_origin_counts_not_only_the_host() {
        let mut t = task();
        for (url, ok) in [
            ("http://control.example:8080/sets/1", true),
            ("http://CONTROL.example:8080/sets/1", true),
            ("http://control.example:8081/sets/1", false),
            ("http://control.example/sets/1", false),
            ("https://control.example:8080/sets/1", false),
        ] {
            t.url = url.into();
            assert_eq!(check(&t, &[]).is_ok(), ok, "{url}");
        }
        // A bare host means the default port of the URL's scheme.
        for (url, ok) in [
            ("https://cdn.example/x", true),
            ("http://cdn.example:80/x", true),
            ("https://cdn.example:8443/x", false),
        ] {
            t.url = url.into();
            assert_eq!(check(&t, &["cdn.example"]).is_ok(), ok, "{url}");
        }
        // An origin entry allows exactly that origin.
        for (url, ok) in [
            ("https://cdn.example:8443/x", true),
            ("https://cdn.example/x", false),
            ("http://cdn.example:8443/x", false),
        ] {
            t.url = url.into();
            let allowed = ["https://cdn.example:8443"];
            assert_eq!(check(&t, &allowed).is_ok(), ok, "{url}");
        }
    }
}

//! A secret string (password, access key secret) that never prints itself,
//! and how one is read from the config: inline or from a `*_file`.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// A secret value. `Debug` and `Display` print `***`, so a secret that ends up
/// in a log line or an error message is redacted; use [`Secret::expose`] to
/// read it where it is really needed (signing, a login).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no secret was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Resolves a secret given either inline (`key`) or as a file (`key_file`);
/// a trailing newline of the file is dropped. Exactly one must be given.
pub fn resolve_secret(
    key: &str,
    inline: Option<&Secret>,
    file: Option<&Path>,
) -> Result<Secret, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!("{key}: give either {key} or {key}_file, not both")),
        (Some(secret), None) if secret.is_empty() => Err(format!("{key}: is empty")),
        (Some(secret), None) => Ok(secret.clone()),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) if text.trim_end_matches(['\r', '\n']).is_empty() => {
                Err(format!("{key}_file: {} is empty", path.display()))
            }
            Ok(text) => Ok(Secret::new(text.trim_end_matches(['\r', '\n']))),
            Err(e) => Err(format!("{key}_file: cannot read {}: {e}", path.display())),
        },
        (None, None) => Err(format!("{key}: missing (or set {key}_file)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "hunter2");
    }
}

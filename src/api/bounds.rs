//! Bounds on the strings of the wire: what the control plane stores is
//! checked here first, and the agent's config follows the same rules.
//!
//! Names and tokens are refused when they break a rule; free text (an error
//! message) is cut to its limit instead, so a report is never lost to it.

/// Longest gateway identifier, in characters.
pub const MAX_IDENTIFIER_CHARS: usize = 64;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 128;
/// Longest signature nonce or client token, in bytes.
pub const MAX_TOKEN_BYTES: usize = 64;
/// Longest host name or IP address of an endpoint, in bytes.
pub const MAX_HOST_BYTES: usize = 253;
/// Longest stored error code, in bytes.
pub const MAX_ERR_CODE_BYTES: usize = 128;
/// Longest stored error message, in bytes (longer ones are cut).
pub const MAX_ERR_MESSAGE_BYTES: usize = 2048;
/// Largest `HostFacts` JSON, in bytes.
pub const MAX_HOST_FACTS_BYTES: usize = 8 * 1024;
/// Largest `Progress` JSON, in bytes.
pub const MAX_PROGRESS_BYTES: usize = 4 * 1024;
/// Largest `Result` JSON, in bytes.
pub const MAX_RESULT_BYTES: usize = 48 * 1024;
/// Most task ids in a heartbeat's `RunningTasks`.
pub const MAX_RUNNING_TASKS: usize = 256;

/// Why a string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoundsError {
    /// Empty, or longer than its limit.
    #[error("must be 1 to {max} {unit} long")]
    Length {
        /// The limit.
        max: usize,
        /// `characters` or `bytes`.
        unit: &'static str,
    },
    /// Holds a character the rule excludes.
    #[error("must not contain {0}")]
    Character(&'static str),
}

/// A gateway identifier: 1 to 64 characters, no commas (lists of
/// identifiers are comma-separated) and no control characters.
pub fn identifier(value: &str) -> Result<(), BoundsError> {
    text(value, MAX_IDENTIFIER_CHARS)?;
    if value.contains(',') {
        return Err(BoundsError::Character("commas"));
    }
    Ok(())
}

/// A display name: 1 to 128 characters, no control characters.
pub fn display_name(value: &str) -> Result<(), BoundsError> {
    text(value, MAX_DISPLAY_NAME_CHARS)
}

/// A nonce or client token: 1 to 64 printable ASCII characters.
pub fn token(value: &str) -> Result<(), BoundsError> {
    printable_ascii(value, MAX_TOKEN_BYTES)
}

/// An error code: 1 to 128 printable ASCII characters.
pub fn err_code(value: &str) -> Result<(), BoundsError> {
    printable_ascii(value, MAX_ERR_CODE_BYTES)
}

/// A host name or IP address: letters, digits, `.`, `-`, `_` and `:` (IPv6).
pub fn host(value: &str) -> Result<(), BoundsError> {
    if value.is_empty() || value.len() > MAX_HOST_BYTES {
        return Err(BoundsError::Length {
            max: MAX_HOST_BYTES,
            unit: "bytes",
        });
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
    {
        return Err(BoundsError::Character(
            "characters other than letters, digits, '.', '-', '_' and ':'",
        ));
    }
    Ok(())
}

/// A JSON document of at most `max` bytes.
pub fn json_size(value: &str, max: usize) -> Result<(), BoundsError> {
    if value.len() > max {
        return Err(BoundsError::Length { max, unit: "bytes" });
    }
    Ok(())
}

/// Free text cut to `max` bytes (at a character boundary), control
/// characters other than newline and tab replaced by a space.
pub fn cut_text(value: &str, max: usize) -> String {
    let mut end = value.len().min(max);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end]
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

fn text(value: &str, max_chars: usize) -> Result<(), BoundsError> {
    let chars = value.chars().count();
    if chars == 0 || chars > max_chars {
        return Err(BoundsError::Length {
            max: max_chars,
            unit: "characters",
        });
    }
    if value.chars().any(char::is_control) {
        return Err(BoundsError::Character("control characters"));
    }
    Ok(())
}

fn printable_ascii(value: &str, max: usize) -> Result<(), BoundsError> {
    if value.is_empty() || value.len() > max {
        return Err(BoundsError::Length { max, unit: "bytes" });
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BoundsError::Character(
            "characters other than printable ASCII",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_bounded_in_length_and_characters() {
        assert!(identifier("db-host-1").is_ok());
        assert!(identifier(&"é".repeat(64)).is_ok());
        assert!(matches!(
            identifier(&"a".repeat(65)),
            Err(BoundsError::Length { max: 64, .. })
        ));
        assert!(identifier("").is_err());
        assert!(identifier("a,b").is_err());
        assert!(identifier("a\nb").is_err());
    }

    #[test]
    fn tokens_are_short_printable_ascii() {
        assert!(token("3f1c-aa").is_ok());
        assert!(token(&"n".repeat(65)).is_err());
        assert!(token("with space").is_err());
        assert!(token("naïve").is_err());
    }

    #[test]
    fn hosts_take_names_and_addresses_only() {
        for ok in ["127.0.0.1", "::1", "db-1.example.com", "fe80::1"] {
            assert!(host(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "host/path", "x@y", &"h".repeat(254)] {
            assert!(host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn free_text_is_cut_at_a_character_boundary() {
        assert_eq!(cut_text("aé", 2), "a");
        assert_eq!(cut_text("a\u{0}b\nc", 100), "a b\nc");
        assert_eq!(cut_text(&"x".repeat(5000), 2048).len(), 2048);
    }
}

//! The values a user gives the catalog, checked before they are stored: plan
//! ids, set names, download dirs, target locations and data formats.
//!
//! A download dir and a set name end up in a path on a database host, so
//! they are checked by the rules the agent checks them by (`api::layout`: no
//! `..` or `.`, no absolute path, no backslash, no control character, no
//! empty component, no component starting with the partials' prefix
//! `.dbs-part.`, components of at most 245 bytes, paths of at most 1024): a
//! value the agent would refuse is refused here first, with the same error.

use crate::api::gateway::TARGET_LOCATIONS;
use crate::api::layout::{PathError, RelPath};

/// The one data format dbs-control serves: the bytes as registered.
pub const NATIVE: &str = "Native";

/// Data formats the API names; only [`NATIVE`] is served.
pub const DATA_FORMATS: [&str; 4] = ["Native", "SQL", "CSV", "JSON"];

const MAX_ID_CHARS: usize = 64;

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A name or path the agent would refuse, refused by the same rules.
    #[error(transparent)]
    Path(#[from] PathError),
    /// Too long.
    #[error("{field}: longer than {max} bytes")]
    TooLong { field: &'static str, max: usize },
    /// Not one of the accepted values.
    #[error("{field}: {value:?} is not one of {accepted}")]
    NotAccepted {
        field: &'static str,
        value: String,
        accepted: String,
    },
}

impl NameError {
    /// Stable error code.
    pub fn code(&self) -> String {
        let field = match self {
            NameError::Path(e) => e.field(),
            NameError::TooLong { field, .. } | NameError::NotAccepted { field, .. } => field,
        };
        format!("InvalidParameter.{field}")
    }

    /// A bad value stays bad.
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// As an API error (400).
    pub fn to_api(&self) -> crate::api::ApiError {
        crate::api::ApiError::new(400, self.code(), self.to_string())
    }
}

/// A plan id: 1 to 64 characters of `A-Z a-z 0-9 _ -`.
pub fn plan_id(value: &str) -> Result<&str, NameError> {
    id("BackupPlanId", value)
}

/// A set id: 1 to 64 characters of `A-Z a-z 0-9 _ -` (so a file named by
/// it stays in its folder).
pub fn set_id(value: &str) -> Result<&str, NameError> {
    id("BackupSetId", value)
}

fn id<'a>(field: &'static str, value: &'a str) -> Result<&'a str, NameError> {
    if value.len() > MAX_ID_CHARS {
        return Err(NameError::TooLong {
            field,
            max: MAX_ID_CHARS,
        });
    }
    if value.is_empty()
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(NameError::NotAccepted {
            field,
            value: value.into(),
            accepted: "1 or more letters, digits, '_' and '-'".into(),
        });
    }
    Ok(value)
}

/// A database type: 1 to 32 ASCII letters and digits (MySQL, MSSQL, …).
pub fn db_type(value: &str) -> Result<&str, NameError> {
    if value.is_empty() || value.len() > 32 || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(NameError::NotAccepted {
            field: "DbType",
            value: value.into(),
            accepted: "1 to 32 letters and digits, such as MySQL".into(),
        });
    }
    Ok(value)
}

/// One file name (a set name): a single safe path component.
pub fn set_name(value: &str) -> Result<&str, NameError> {
    RelPath::component("BackupSetName", value)?;
    Ok(value)
}

/// Longest `BackupSetDownloadDir`: with a plan id (64), the kind (9), a set
/// name (245) and the separators, a set's path stays within the agent's
/// [`MAX_PATH_BYTES`](crate::api::layout::MAX_PATH_BYTES), so a rule the catalog takes never makes paths the
/// agent refuses.
pub const MAX_DOWNLOAD_DIR_BYTES: usize = 512;

/// A `BackupSetDownloadDir`: one or more safe components joined by `/`, at
/// most [`MAX_DOWNLOAD_DIR_BYTES`].
pub fn download_dir(value: &str) -> Result<&str, NameError> {
    const FIELD: &str = "BackupSetDownloadDir";
    RelPath::parse(FIELD, value)?;
    if value.len() > MAX_DOWNLOAD_DIR_BYTES {
        return Err(NameError::TooLong {
            field: FIELD,
            max: MAX_DOWNLOAD_DIR_BYTES,
        });
    }
    Ok(value)
}

/// A target location, `local` when absent.
pub fn location(value: Option<&str>) -> Result<&'static str, NameError> {
    let value = value.unwrap_or("local");
    TARGET_LOCATIONS
        .into_iter()
        .find(|l| *l == value)
        .ok_or_else(|| NameError::NotAccepted {
            field: "BackupSetDownloadTargetTypeLocation",
            value: value.into(),
            accepted: TARGET_LOCATIONS.join(", "),
        })
}

/// A data format parameter: `Native` when absent; the other formats the API
/// names are refused, since dbs-control serves the bytes as registered.
pub fn data_format(field: &'static str, value: Option<&str>) -> Result<&'static str, NameError> {
    match value {
        None => Ok(NATIVE),
        Some(v) if v.eq_ignore_ascii_case(NATIVE) => Ok(NATIVE),
        Some(v) => {
            let why = if DATA_FORMATS.iter().any(|f| f.eq_ignore_ascii_case(v)) {
                "Native (dbs-control serves sets as they were registered, without conversion)"
            } else {
                "Native"
            };
            Err(NameError::NotAccepted {
                field,
                value: v.into(),
                accepted: why.into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_dirs_follow_the_agents_rules() {
        assert!(download_dir("backups/db1").is_ok());
        assert!(download_dir("a").is_ok());
        for (bad, code) in [
            ("", "Empty"),
            ("a//b", "Empty"),
            ("a/", "Empty"),
            ("/etc", "Absolute"),
            ("\\x", "Absolute"),
            ("C:x", "Absolute"),
            ("a/../b", "Traversal"),
            ("..", "Traversal"),
            ("./a", "Traversal"),
            ("a\nb", "BadCharacter"),
            ("a\\b", "BadCharacter"),
            ("a\u{7f}", "BadCharacter"),
        ] {
            let err = download_dir(bad).unwrap_err();
            assert!(
                format!("{err:?}").starts_with(&format!("Path({code}")),
                "{bad:?}: {err:?}"
            );
            assert_eq!(err.code(), "InvalidParameter.BackupSetDownloadDir");
        }
        assert!(matches!(
            download_dir(&"x".repeat(256)),
            Err(NameError::Path(PathError::TooLong { .. }))
        ));
    }

    #[test]
    fn set_names_are_one_component() {
        assert!(set_name("mysql-bin.000054").is_ok());
        assert!(set_name("a/b").is_err());
        assert!(set_name("..").is_err());
        assert!(set_name("").is_err());
    }

    #[test]
    fn set_names_leave_room_for_the_partial_name() {
        let err = set_name(&"n".repeat(250)).unwrap_err();
        assert_eq!(
            err,
            NameError::Path(PathError::TooLong {
                field: "BackupSetName",
                len: 250
            })
        );
        assert_eq!(err.code(), "InvalidParameter.BackupSetName");
        assert!(set_name(&"n".repeat(245)).is_ok());
        assert!(download_dir(&format!("{}/x", "d".repeat(250))).is_err());
        assert!(download_dir(&["d"; 513].join("/")).is_err());
        // A dir within the agent's path limit but long enough that a long
        // plan id and set name would pass it is refused.
        let long_dir = vec!["d".repeat(200); 3].join("/");
        assert_eq!(
            download_dir(&long_dir).unwrap_err(),
            NameError::TooLong {
                field: "BackupSetDownloadDir",
                max: MAX_DOWNLOAD_DIR_BYTES
            }
        );
        assert!(download_dir(&vec!["d".repeat(200); 2].join("/")).is_ok());
    }

    #[test]
    fn the_partial_prefix_is_refused() {
        assert!(set_name("x.part").is_ok());
        let err = set_name(".dbs-part.x").unwrap_err();
        assert!(
            matches!(err, NameError::Path(PathError::Reserved { .. })),
            "{err:?}"
        );
        assert!(err.to_string().contains("partial"), "{err}");
        assert!(download_dir("a/.dbs-part.b").is_err());
    }

    #[test]
    fn plan_ids_are_plain() {
        assert!(plan_id("dbs1abc_-").is_ok());
        assert!(plan_id("a b").is_err());
        assert!(plan_id("").is_err());
        assert!(plan_id(&"p".repeat(65)).is_err());
    }

    #[test]
    fn only_known_locations_and_native_format() {
        assert_eq!(location(None), Ok("local"));
        assert_eq!(location(Some("minio")), Ok("minio"));
        assert!(location(Some("s3")).is_err());
        assert_eq!(data_format("FullDataFormat", None), Ok("Native"));
        assert_eq!(data_format("FullDataFormat", Some("native")), Ok("Native"));
        let err = data_format("FullDataFormat", Some("CSV")).unwrap_err();
        assert_eq!(err.code(), "InvalidParameter.FullDataFormat");
    }
}

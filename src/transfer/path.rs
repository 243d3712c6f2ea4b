//! Relative paths inside a target: [`RelPath`] and the download layout.
//!
//! Every name that reaches a sink comes from a task (a control plane's
//! `BackupSetDownloadDir`, a plan id, a set name). This module owns the rules
//! that keep such names inside the target root: no `..`, no `.`, no absolute
//! path, no backslash, no control characters, no empty component. A sink
//! only ever sees a [`RelPath`], so it never has to re-check.

use std::fmt;
use std::path::{Path, PathBuf};

/// Longest accepted component, in bytes (common file-system limit).
pub const MAX_COMPONENT_BYTES: usize = 255;

/// Why a name was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The value is empty, or has an empty component (`a//b`, a trailing `/`).
    #[error("{field}: empty name or empty path component in {value:?}")]
    Empty { field: &'static str, value: String },
    /// The value starts with `/` (or `\`, or a drive letter such as `C:`).
    #[error("{field}: absolute path {value:?} is not allowed")]
    Absolute { field: &'static str, value: String },
    /// A component is `..` or `.`.
    #[error("{field}: path traversal component in {value:?}")]
    Traversal { field: &'static str, value: String },
    /// The value holds a control character (or NUL) or a backslash.
    #[error("{field}: control character or backslash in {value:?}")]
    BadCharacter { field: &'static str, value: String },
    /// A component is longer than 255 bytes.
    #[error("{field}: path component longer than {MAX_COMPONENT_BYTES} bytes")]
    TooLong { field: &'static str },
}

impl PathError {
    /// Stable error code reported to the control plane.
    pub fn code(&self) -> &'static str {
        match self {
            PathError::Empty { .. } => "InvalidPath.Empty",
            PathError::Absolute { .. } => "InvalidPath.Absolute",
            PathError::Traversal { .. } => "InvalidPath.Traversal",
            PathError::BadCharacter { .. } => "InvalidPath.BadCharacter",
            PathError::TooLong { .. } => "InvalidPath.TooLong",
        }
    }

    /// A bad name stays bad: never retryable.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// A validated path relative to a target root: one or more components
/// joined by `/`, each free of `..`, `.`, `/`, `\`, control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelPath {
    components: Vec<String>,
}

impl RelPath {
    /// Parses a `/`-separated relative path; `field` names the task field in
    /// error messages (for example `BackupSetDownloadDir`).
    pub fn parse(field: &'static str, value: &str) -> Result<Self, PathError> {
        if value.starts_with('/') || value.starts_with('\\') || has_drive_prefix(value) {
            return Err(PathError::Absolute {
                field,
                value: value.to_owned(),
            });
        }
        let components = value
            .split('/')
            .map(|c| check_component(field, value, c).map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RelPath { components })
    }

    /// One component (a file or directory name): no `/` allowed.
    pub fn component(field: &'static str, value: &str) -> Result<Self, PathError> {
        if value.starts_with('/') {
            return Err(PathError::Absolute {
                field,
                value: value.to_owned(),
            });
        }
        if value.contains('/') {
            return Err(PathError::Traversal {
                field,
                value: value.to_owned(),
            });
        }
        Self::parse(field, value)
    }

    /// This path followed by `other`.
    pub fn join(&self, other: &RelPath) -> RelPath {
        let mut components = self.components.clone();
        components.extend(other.components.iter().cloned());
        RelPath { components }
    }

    /// The components, first to last (never empty).
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// The last component (the file name).
    pub fn file_name(&self) -> &str {
        self.components.last().map(String::as_str).unwrap_or("")
    }

    /// The components before the last one (the directories to create).
    pub fn parent_components(&self) -> &[String] {
        &self.components[..self.components.len().saturating_sub(1)]
    }

    /// The path joined with `/`, for object keys and remote paths.
    pub fn as_slash_path(&self) -> String {
        self.components.join("/")
    }

    /// `root` joined with every component, for local file systems.
    pub fn under(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        p.extend(&self.components);
        p
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_slash_path())
    }
}

fn has_drive_prefix(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

fn check_component<'a>(field: &'static str, value: &str, c: &'a str) -> Result<&'a str, PathError> {
    let err_value = || value.to_owned();
    if c.is_empty() {
        return Err(PathError::Empty {
            field,
            value: err_value(),
        });
    }
    if c == ".." || c == "." {
        return Err(PathError::Traversal {
            field,
            value: err_value(),
        });
    }
    if c.chars().any(|ch| ch.is_control() || ch == '\\') {
        return Err(PathError::BadCharacter {
            field,
            value: err_value(),
        });
    }
    if c.len() > MAX_COMPONENT_BYTES {
        return Err(PathError::TooLong { field });
    }
    Ok(c)
}

/// Which kind of backup set a download holds; it names a layout directory.
pub use crate::api::gateway::SetKind;

/// The path of a downloaded set inside any target:
/// `{download_dir}/{plan_id}/{full|increment}/{set_name}`.
///
/// `download_dir` may have several `/`-separated components; `plan_id` and
/// `set_name` must each be a single component. Every part is checked.
pub fn set_layout(
    download_dir: &str,
    plan_id: &str,
    kind: SetKind,
    set_name: &str,
) -> Result<RelPath, PathError> {
    let dir = RelPath::parse("BackupSetDownloadDir", download_dir)?;
    let plan = RelPath::component("BackupPlanId", plan_id)?;
    let kind = RelPath::component("kind", kind.as_str())?;
    let name = RelPath::component("BackupSetName", set_name)?;
    Ok(dir.join(&plan).join(&kind).join(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_joins_fields() {
        let p = set_layout(
            "backups/db1",
            "plan-1",
            SetKind::Increment,
            "mysql-bin.000054",
        )
        .unwrap();
        assert_eq!(
            p.as_slash_path(),
            "backups/db1/plan-1/increment/mysql-bin.000054"
        );
        assert_eq!(p.file_name(), "mysql-bin.000054");
        assert_eq!(p.parent_components().len(), 4);
        assert_eq!(
            p.under(Path::new("/srv")),
            PathBuf::from("/srv/backups/db1/plan-1/increment/mysql-bin.000054")
        );
    }

    #[test]
    fn hostile_values_are_refused() {
        let cases: &[(&str, &str)] = &[
            ("", "InvalidPath.Empty"),
            ("a//b", "InvalidPath.Empty"),
            ("a/", "InvalidPath.Empty"),
            ("/etc", "InvalidPath.Absolute"),
            ("\\\\server\\share", "InvalidPath.Absolute"),
            ("C:stuff", "InvalidPath.Absolute"),
            ("..", "InvalidPath.Traversal"),
            ("a/../../etc", "InvalidPath.Traversal"),
            ("./a", "InvalidPath.Traversal"),
            ("a\nb", "InvalidPath.BadCharacter"),
            ("a\0b", "InvalidPath.BadCharacter"),
            ("a\\..\\b", "InvalidPath.BadCharacter"),
            ("a\u{7f}", "InvalidPath.BadCharacter"),
        ];
        for (value, code) in cases {
            let err = RelPath::parse("dir", value).unwrap_err();
            assert_eq!(err.code(), *code, "value {value:?}");
        }
        let long = "x".repeat(256);
        assert_eq!(
            RelPath::parse("dir", &long).unwrap_err().code(),
            "InvalidPath.TooLong"
        );
    }

    #[test]
    fn single_components_refuse_slashes() {
        assert!(set_layout("d", "a/b", SetKind::Full, "n").is_err());
        assert!(set_layout("d", "p", SetKind::Full, "x/y").is_err());
        assert!(set_layout("d", "p", SetKind::Full, "..").is_err());
        assert!(set_layout("d", "p", SetKind::Full, "/n").is_err());
        assert!(set_layout("d/e", "p", SetKind::Full, "n").is_ok());
    }
}

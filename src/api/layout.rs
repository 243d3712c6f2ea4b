//! Relative paths inside a target: [`RelPath`] and the download layout.
//!
//! Every name that reaches a sink comes from a task (a control plane's
//! `BackupSetDownloadDir`, a plan id, a set name). This module owns the rules
//! that keep such names inside the target root: no `..`, no `.`, no absolute
//! path, no backslash, no control characters, no empty component. A sink
//! only ever sees a [`RelPath`], so it never has to re-check.
//!
//! It also owns the partial namespace: while a set is written its bytes
//! live under [`RelPath::partial`], the final name with [`PARTIAL_PREFIX`]
//! in front, in the same directory. No component may start with that
//! prefix, so no set name or directory can ever be another set's partial,
//! and each component is short enough to take the prefix within the 255
//! bytes file systems allow. A whole path is at most [`MAX_PATH_BYTES`].

use std::fmt;
use std::path::{Path, PathBuf};

/// Prefix of a partial's name: the partial of `dir/name` is
/// `dir/.dbs-part.name`. Refused at the start of any component.
pub const PARTIAL_PREFIX: &str = ".dbs-part.";
/// Longest file name most file systems (and FTP servers) accept, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Longest accepted component, in bytes: room is left for the prefix.
pub const MAX_COMPONENT_BYTES: usize = MAX_NAME_BYTES - PARTIAL_PREFIX.len();
/// Longest accepted relative path (components and `/`), in bytes; an S3
/// key is at most 1024 bytes.
pub const MAX_PATH_BYTES: usize = 1024;

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
    /// A component is longer than [`MAX_COMPONENT_BYTES`].
    #[error(
        "{field}: path component of {len} bytes is longer than {MAX_COMPONENT_BYTES} \
         ({MAX_NAME_BYTES} less the {} kept for the partial name)",
        PARTIAL_PREFIX.len()
    )]
    TooLong { field: &'static str, len: usize },
    /// The whole path is longer than [`MAX_PATH_BYTES`].
    #[error("{field}: path of {len} bytes is longer than {MAX_PATH_BYTES}")]
    PathTooLong { field: &'static str, len: usize },
    /// A component starts with [`PARTIAL_PREFIX`], the partials' namespace.
    #[error(
        "{field}: {value:?}: names starting with {PARTIAL_PREFIX:?} are kept for partial files"
    )]
    Reserved { field: &'static str, value: String },
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
            PathError::PathTooLong { .. } => "InvalidPath.PathTooLong",
            PathError::Reserved { .. } => "InvalidPath.Reserved",
        }
    }

    /// The task or request field that held the name.
    pub fn field(&self) -> &'static str {
        match self {
            PathError::Empty { field, .. }
            | PathError::Absolute { field, .. }
            | PathError::Traversal { field, .. }
            | PathError::BadCharacter { field, .. }
            | PathError::TooLong { field, .. }
            | PathError::PathTooLong { field, .. }
            | PathError::Reserved { field, .. } => field,
        }
    }

    /// A bad name stays bad: never retryable.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// A validated path relative to a target root: one or more components
/// joined by `/`, each free of `..`, `.`, `/`, `\`, control characters and
/// [`PARTIAL_PREFIX`], at most [`MAX_PATH_BYTES`] in all.
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
        RelPath { components }.bounded(field)
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

    /// This path followed by `other`; `field` names the result in the error
    /// when it is longer than [`MAX_PATH_BYTES`].
    pub fn join(&self, field: &'static str, other: &RelPath) -> Result<RelPath, PathError> {
        let mut components = self.components.clone();
        components.extend(other.components.iter().cloned());
        RelPath { components }.bounded(field)
    }

    fn bounded(self, field: &'static str) -> Result<Self, PathError> {
        let len = self.byte_len();
        if len > MAX_PATH_BYTES {
            return Err(PathError::PathTooLong { field, len });
        }
        Ok(self)
    }

    /// Length of [`RelPath::as_slash_path`] in bytes.
    pub fn byte_len(&self) -> usize {
        self.components.iter().map(String::len).sum::<usize>() + self.components.len() - 1
    }

    /// Where the bytes of this path live while they are written: the same
    /// directory, the file name with [`PARTIAL_PREFIX`] in front. No valid
    /// path is another's partial.
    pub fn partial(&self) -> RelPath {
        let mut components = self.components.clone();
        if let Some(last) = components.last_mut() {
            *last = format!("{PARTIAL_PREFIX}{last}");
        }
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
        return Err(PathError::TooLong {
            field,
            len: c.len(),
        });
    }
    if c.starts_with(PARTIAL_PREFIX) {
        return Err(PathError::Reserved {
            field,
            value: err_value(),
        });
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
    const FIELD: &str = "BackupSetDownloadDir/BackupPlanId/kind/BackupSetName";
    dir.join(FIELD, &plan)?
        .join(FIELD, &kind)?
        .join(FIELD, &name)
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
    fn names_leave_room_for_the_partial_prefix() {
        // 250 bytes used to pass, but its partial name would not fit in 255.
        let err = RelPath::component("BackupSetName", &"n".repeat(250)).unwrap_err();
        assert_eq!(err.code(), "InvalidPath.TooLong");
        assert!(err.to_string().contains("250 bytes"), "{err}");
        let at_limit = RelPath::component("BackupSetName", &"n".repeat(MAX_COMPONENT_BYTES));
        let partial = at_limit.unwrap().partial();
        assert_eq!(partial.file_name().len(), MAX_NAME_BYTES);
        assert!(RelPath::component("n", &"n".repeat(MAX_COMPONENT_BYTES + 1)).is_err());
    }

    #[test]
    fn the_partial_namespace_is_reserved() {
        let p = RelPath::parse("dir", "a/x.part").unwrap();
        assert_eq!(p.partial().as_slash_path(), "a/.dbs-part.x.part");
        assert_ne!(p.partial(), RelPath::parse("dir", "a/x").unwrap());
        for bad in [".dbs-part.x", "a/.dbs-part.x", ".dbs-part.d/x"] {
            let err = RelPath::parse("dir", bad).unwrap_err();
            assert_eq!(err.code(), "InvalidPath.Reserved", "{bad}");
        }
        assert!(RelPath::parse("dir", "a/.dbs-partx").is_ok());
        assert!(RelPath::parse("dir", "a/x.dbs-part.").is_ok());
    }

    #[test]
    fn whole_paths_are_bounded() {
        let c = "c".repeat(200);
        let at_limit = [c.as_str(); 5].join("/") + "/" + &"d".repeat(MAX_PATH_BYTES - 1005);
        assert_eq!(
            RelPath::parse("dir", &at_limit).unwrap().byte_len(),
            MAX_PATH_BYTES
        );
        let err = RelPath::parse("dir", &format!("{at_limit}d")).unwrap_err();
        assert_eq!(err.code(), "InvalidPath.PathTooLong");
        let dir = [c.as_str(); 4].join("/");
        assert!(set_layout(&dir, "p", SetKind::Full, "n").is_ok());
        let name = "n".repeat(MAX_COMPONENT_BYTES);
        let err = set_layout(&dir, "p", SetKind::Full, &name).unwrap_err();
        assert_eq!(err.code(), "InvalidPath.PathTooLong");
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

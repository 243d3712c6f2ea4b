//! Files and directories dbs-control writes under its data dir, created with
//! explicit owner-only modes whatever the umask: directories 0700, files
//! 0600 (the store holds key secrets and the URL-signing key, the sets hold
//! backup bytes). Modes of an existing data dir are tightened when it is
//! opened.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every directory dbs-control makes.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file dbs-control makes.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) with [`DIR_MODE`], and sets the mode
/// of `dir` itself to [`DIR_MODE`] if it existed.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    tighten(dir, DIR_MODE)
}

/// Creates (or truncates) `path` for writing with [`FILE_MODE`]. A symbolic
/// link at `path` is refused (`ELOOP`), never followed: what it points at
/// is not dbs-control's to truncate.
pub fn create_private(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// Opens the existing file `path` for appending; a symbolic link is
/// refused (`ELOOP`), never followed.
pub fn append_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Creates `path` empty with [`FILE_MODE`] if missing (an existing file is
/// left as it is, its mode tightened).
pub fn touch_private(path: &Path) -> io::Result<()> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)?;
    tighten(path, FILE_MODE)
}

/// Sets the mode of `path` to `mode` unless it already has no more bits;
/// a missing `path` is fine.
pub fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    let current = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if current & !mode == 0 && current & 0o7000 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, Permissions::from_mode(current & mode))
}

/// Tightens the entries of `dir` one level deep: directories to
/// [`DIR_MODE`], files to [`FILE_MODE`]. A missing `dir` is fine.
pub fn tighten_entries(dir: &Path) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    tighten(dir, DIR_MODE)?;
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            tighten(&entry.path(), DIR_MODE)?;
        } else if kind.is_file() {
            tighten(&entry.path(), FILE_MODE)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symbolic_link_is_neither_created_through_nor_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"keep").unwrap();
        let link = dir.path().join("part");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert_eq!(
            create_private(&link).unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
        assert_eq!(
            append_private(&link).unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn loose_modes_are_tightened_and_new_ones_are_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);

        let file = dir.join("f");
        create_private(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        touch_private(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, Permissions::from_mode(0o400)).unwrap();
        tighten(&file, FILE_MODE).unwrap();
        assert_eq!(mode(&file), 0o400, "tightening never adds bits");
    }
}

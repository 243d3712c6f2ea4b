//! Files beneath a target root, reached without following symbolic links.
//!
//! The `local` and `nas` targets never join a path under their root and
//! hand it to the kernel: a symbolic link planted anywhere under the root
//! (an intermediate directory, the partial's name, the final name) would
//! then send the write elsewhere. Instead the root is opened once per
//! download and everything else is reached relative to directory file
//! descriptors: the directories with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)`, or, where the kernel has no `openat2` (before
//! 5.6, or filtered by seccomp) or a directory is missing, one component at a time with
//! `O_NOFOLLOW | O_DIRECTORY` (created with `mkdirat` when missing). The
//! partial is opened with `O_NOFOLLOW` and must be a regular file; renames,
//! unlinks and the directory `fsync` go through the directory's descriptor.
//!
//! Modes are explicit whatever the umask: directories this module creates
//! are 0750, the files it creates 0640. Directories that already exist keep
//! their mode.
//!
//! Everything here blocks: call it from `spawn_blocking`.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Mode of the directories the sink creates.
pub const DIR_MODE: u32 = 0o750;
/// Mode of the files the sink writes.
pub const FILE_MODE: u32 = 0o640;

/// Set once `openat2` answered `ENOSYS`: walk component by component.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Why a path beneath the root could not be used. `at` is the part of the
/// relative path reached so far (`a/b`), for messages.
#[derive(Debug)]
pub enum WalkError {
    /// Something other than what the sink writes sits at `at`: a symbolic
    /// link, a non-directory where a directory belongs, a partial that is
    /// not a regular file. Refused; nothing was written.
    Unsafe { at: String, reason: String },
    /// An I/O error at `at`.
    Io { at: String, source: io::Error },
}

fn io_at(at: impl Into<String>, e: Errno) -> WalkError {
    WalkError::Io {
        at: at.into(),
        source: e.into(),
    }
}

/// Which file a descriptor is: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident {
    dev: u64,
    ino: u64,
}

impl Ident {
    /// The identity of an open file.
    pub fn of(file: &File) -> io::Result<Ident> {
        let st = rfs::fstat(file)?;
        Ok(Ident {
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }
}

/// Opens the configured root (the operator's path, links in it included).
pub fn open_root(root: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rfs::open(root, flags, Mode::empty())?)
}

/// Opens the directory `components` beneath `root`, creating the missing
/// ones (mode [`DIR_MODE`]). A symbolic link or a non-directory on the way
/// is refused.
pub fn open_dir(root: &OwnedFd, components: &[String]) -> Result<OwnedFd, WalkError> {
    if components.is_empty() {
        return root.try_clone().map_err(|source| WalkError::Io {
            at: ".".into(),
            source,
        });
    }
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let joined = components.join("/");
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rfs::openat2(root, joined.as_str(), DIR_FLAGS, Mode::empty(), resolve) {
            Ok(fd) => return Ok(fd),
            // No openat2 (before Linux 5.6), or a seccomp filter that
            // answers EPERM for syscalls it does not know.
            Err(Errno::NOSYS | Errno::PERM) => NO_OPENAT2.store(true, Ordering::Relaxed),
            // Missing, refused or raced: the walk creates what is missing
            // and names the component that is refused.
            Err(Errno::NOENT | Errno::LOOP | Errno::XDEV | Errno::NOTDIR | Errno::AGAIN) => {}
            Err(e) => return Err(io_at(joined, e)),
        }
    }
    walk(root, components)
}

/// One component at a time, each opened `O_NOFOLLOW` relative to its parent.
fn walk(root: &OwnedFd, components: &[String]) -> Result<OwnedFd, WalkError> {
    let mut dir: Option<OwnedFd> = None;
    for (i, name) in components.iter().enumerate() {
        let at = components[..=i].join("/");
        let parent = dir.as_ref().unwrap_or(root);
        let next = match rfs::openat(parent, name.as_str(), DIR_FLAGS, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => create_dir(parent, name, &at)?,
            Err(Errno::LOOP | Errno::NOTDIR) => return Err(refusal(parent, name, at, "directory")),
            Err(e) => return Err(io_at(at, e)),
        };
        dir = Some(next);
    }
    Ok(dir.expect("at least one component"))
}

/// `mkdirat` then open it, mode [`DIR_MODE`] whatever the umask. Another
/// writer creating it first is fine.
fn create_dir(parent: &OwnedFd, name: &str, at: &str) -> Result<OwnedFd, WalkError> {
    let created = match rfs::mkdirat(parent, name, Mode::from_raw_mode(DIR_MODE)) {
        Ok(()) => true,
        Err(Errno::EXIST) => false,
        Err(e) => return Err(io_at(at, e)),
    };
    let fd = match rfs::openat(parent, name, DIR_FLAGS, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP | Errno::NOTDIR) => {
            return Err(refusal(parent, name, at.into(), "directory"))
        }
        Err(e) => return Err(io_at(at, e)),
    };
    if created {
        rfs::fchmod(&fd, Mode::from_raw_mode(DIR_MODE)).map_err(|e| io_at(at, e))?;
    }
    Ok(fd)
}

/// Says what sits at `name` instead of the expected `wanted` kind.
fn refusal(dir: &OwnedFd, name: &str, at: String, wanted: &str) -> WalkError {
    let found = match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => describe(FileType::from_raw_mode(st.st_mode)),
        Err(_) => "not usable",
    };
    WalkError::Unsafe {
        at,
        reason: format!("{found}, not a {wanted}; refusing to write through it"),
    }
}

fn describe(t: FileType) -> &'static str {
    match t {
        FileType::Symlink => "a symbolic link",
        FileType::Directory => "a directory",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice | FileType::BlockDevice => "a device",
        FileType::RegularFile => "a regular file",
        _ => "an unknown kind of file",
    }
}

/// Opens the regular file `name` in `dir` for reading and writing,
/// creating it (mode [`FILE_MODE`]) when missing. A symbolic link, FIFO,
/// device or directory at `name` is refused without being written.
pub fn open_file(dir: &OwnedFd, name: &str) -> Result<File, WalkError> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile => {
            return Err(refusal(dir, name, name.into(), "regular file"))
        }
        Ok(_) | Err(Errno::NOENT) => {}
        Err(e) => return Err(io_at(name, e)),
    }
    // O_NONBLOCK: should a FIFO or device take the name after the check,
    // opening it neither blocks nor waits for a peer; fstat refuses it.
    let flags =
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match rfs::openat(dir, name, flags, Mode::from_raw_mode(FILE_MODE)) {
        Ok(fd) => fd,
        Err(Errno::LOOP | Errno::ISDIR | Errno::NXIO) => {
            return Err(refusal(dir, name, name.into(), "regular file"))
        }
        Err(e) => return Err(io_at(name, e)),
    };
    let st = rfs::fstat(&fd).map_err(|e| io_at(name, e))?;
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind != FileType::RegularFile {
        return Err(WalkError::Unsafe {
            at: name.into(),
            reason: format!("{}, not a regular file", describe(kind)),
        });
    }
    let set = || -> Result<(), Errno> {
        rfs::fcntl_setfl(&fd, rfs::fcntl_getfl(&fd)? - OFlags::NONBLOCK)?;
        rfs::fchmod(&fd, Mode::from_raw_mode(FILE_MODE))
    };
    set().map_err(|e| io_at(name, e))?;
    Ok(File::from(fd))
}

/// Opens `name` in `dir` for reading, only when it is still the file
/// `ident` names: the partial as this writer holds it.
pub fn reopen_read(dir: &OwnedFd, name: &str, ident: Ident) -> Result<File, WalkError> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match rfs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP) => return Err(refusal(dir, name, name.into(), "regular file")),
        Err(e) => return Err(io_at(name, e)),
    };
    let file = File::from(fd);
    if Ident::of(&file).map_err(|e| WalkError::Io {
        at: name.into(),
        source: e,
    })? != ident
    {
        return Err(WalkError::Unsafe {
            at: name.into(),
            reason: "replaced while it was being written".into(),
        });
    }
    Ok(file)
}

/// True when `name` in `dir` is still the file `ident` names (not renamed
/// away, removed or replaced since it was opened).
pub fn is_same(dir: &OwnedFd, name: &str, ident: Ident) -> Result<bool, WalkError> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(st.st_dev == ident.dev && st.st_ino == ident.ino),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(io_at(name, e)),
    }
}

/// Refuses a final name taken by anything but a regular file (a planted
/// symbolic link, a directory); a missing one is fine.
pub fn check_final(dir: &OwnedFd, name: &str) -> Result<(), WalkError> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile => {
            Err(refusal(dir, name, name.into(), "regular file"))
        }
        Ok(_) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(io_at(name, e)),
    }
}

/// Renames `from` to `to` within `dir` (replacing `to`), then syncs `dir`
/// so the new name survives a power cut.
pub fn rename_and_sync(dir: &OwnedFd, from: &str, to: &str) -> Result<(), WalkError> {
    rfs::renameat(dir, from, dir, to).map_err(|e| io_at(to, e))?;
    rfs::fsync(dir).map_err(|e| io_at(".", e))
}

/// Removes `name` from `dir`; one already gone is fine.
pub fn remove(dir: &OwnedFd, name: &str) -> Result<(), WalkError> {
    match rfs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(io_at(name, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_component_walk_refuses_a_link_and_creates_with_mode_0750() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = open_root(tmp.path()).unwrap();
        walk(&root, &names(&["a", "b"])).unwrap();
        let mode = std::fs::metadata(tmp.path().join("a/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, DIR_MODE);
        symlink(outside.path(), tmp.path().join("a/link")).unwrap();
        match walk(&root, &names(&["a", "link", "c"])) {
            Err(WalkError::Unsafe { at, reason }) => {
                assert_eq!(at, "a/link");
                assert!(reason.contains("symbolic link"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
    }
}

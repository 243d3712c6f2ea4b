//! dbs-control keeps its data dir to its own user whatever the umask: the
//! directory 0700, the store (key secrets, the URL-signing key) with its WAL
//! and SHM files and the sets 0600, and an existing data dir is tightened.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use support::control::ControlProcess;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The usual umask of a shell, which leaves files world-readable.
fn umask_022() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
}

#[test]
fn a_new_data_dir_and_its_store_and_sets_are_private() {
    umask_022();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let set = dir.path().join("full.xb");
    std::fs::write(&set, b"backup bytes").unwrap();
    let added = support::control::add_set(&data, "p1", "full", None, &set);
    let id = added["BackupSetId"].as_str().unwrap();

    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("dbs-control.sqlite3")), 0o600);
    assert_eq!(mode(&data.join("sets")), 0o700);
    assert_eq!(mode(&data.join("sets").join(id)), 0o600);
}

#[test]
fn an_existing_data_dir_is_tightened_when_served() {
    umask_022();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let set = dir.path().join("full.xb");
    std::fs::write(&set, b"backup bytes").unwrap();
    let added = support::control::add_set(&data, "p1", "full", None, &set);
    let stored = data
        .join("sets")
        .join(added["BackupSetId"].as_str().unwrap());
    // As an older dbs-control left them under umask 022.
    let db = data.join("dbs-control.sqlite3");
    set_mode(&data, 0o755);
    set_mode(&db, 0o644);
    set_mode(&data.join("sets"), 0o755);
    set_mode(&stored, 0o644);

    let control = ControlProcess::start(&data, &[]);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&data.join("sets")), 0o700);
    assert_eq!(mode(&stored), 0o600);
    // serve has written (its public URL): the WAL and SHM files exist.
    for side in ["dbs-control.sqlite3-wal", "dbs-control.sqlite3-shm"] {
        let path = data.join(side);
        assert!(path.exists(), "{side} missing");
        assert_eq!(mode(&path), 0o600, "{side}");
    }
    drop(control);
}

//! The local and NAS targets at their edges: a full disk (a small tmpfs,
//! mounted by the test as root), an unmounted NAS root, a mounted one, and
//! hostile directory and name values. Nothing may appear at a final name.

mod support;

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use std::sync::Arc;

use bytes::Bytes;
use dbs_gateway::api::gateway::{DownloadSpec, SetKind};
use dbs_gateway::api::layout::{set_layout, RelPath};
use rand::RngCore;
use sha2::{Digest, Sha256};
use support::fixtures::{local_section, nas_section};
use support::http_range_server::RangeServer;
use support::sinks::{spec, Failure, Pipeline, Target, Tuning};
use support::tmpfs::Tmpfs;
use tokio_util::sync::CancellationToken;

const MIB: usize = 1024 * 1024;

fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::rng().fill_bytes(&mut data);
    data
}

fn downloader(local: Option<&Path>, nas: Option<&Path>) -> Pipeline {
    let sections = [local.map(local_section), nas.map(nas_section)];
    Pipeline::new(
        &sections.into_iter().flatten().collect::<String>(),
        Tuning {
            max_retries: 2,
            bandwidth: 0,
        },
    )
}

/// The local target on `root`, as the agent builds it.
fn local_target(root: &Path) -> Arc<dyn Target> {
    downloader(Some(root), None).target("local")
}

/// The NAS target on `root`, as the agent builds it.
fn nas_target(root: &Path) -> Arc<dyn Target> {
    downloader(None, Some(root)).target("nas")
}

fn task(server: &RangeServer, data: &[u8], location: &str) -> DownloadSpec {
    let mut t = spec(&server.url("set"), location, "dl", "mysql-bin.000054", data);
    t.kind = SetKind::Increment;
    t
}

/// Runs `t`, its URL's origin taken as the control plane's.
async fn run(d: &Pipeline, t: &DownloadSpec) -> Result<(), Failure> {
    d.run(t).await.map(|_| ())
}

/// The layout path of the test task's set.
fn layout_of(t: &DownloadSpec) -> RelPath {
    set_layout(&t.dir, &t.backup_plan_id, t.kind, &t.set_name).unwrap()
}

/// Every regular file under `root`, relative.
fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out
}

#[tokio::test]
async fn a_full_disk_is_refused_before_writing() {
    let disk = Tmpfs::mount("1m");
    let data = random_bytes(2 * MIB);
    let server = RangeServer::start(data.clone()).await;
    let t = task(&server, &data, "local");
    let err = run(&downloader(Some(disk.path()), None), &t)
        .await
        .unwrap_err();
    assert_eq!(err.code, "Target.NoSpace");
    assert!(!err.retryable);
    assert!(err.message.contains("not enough space"), "{err}");
    assert_eq!(server.bytes_sent(), 0);
    assert!(
        files_under(disk.path()).is_empty(),
        "{:?}",
        files_under(disk.path())
    );
}

#[tokio::test]
async fn running_out_of_space_while_writing_is_a_no_space_error() {
    let disk = Tmpfs::mount("1m");
    let target = local_target(disk.path());
    let path = RelPath::parse("dir", "a/b.bin").unwrap();
    // Announce a small size so open() succeeds, then write more than fits.
    let mut writer = target.open(&path, Some(4 * MIB as u64)).await.unwrap();
    let mut failure = None;
    for _ in 0..4 {
        if let Err(e) = writer.write(Bytes::from(vec![7u8; MIB])).await {
            failure = Some(e);
            break;
        }
    }
    let err = match failure {
        Some(e) => e,
        None => writer.commit().await.unwrap_err(),
    };
    assert_eq!(err.code(), "Target.NoSpace", "{err}");
    assert!(!disk.path().join("a/b.bin").exists());
}

#[tokio::test]
async fn an_unmounted_nas_root_is_refused() {
    let plain_dir = tempfile::tempdir().unwrap();
    let data = random_bytes(1000);
    let server = RangeServer::start(data.clone()).await;
    let t = task(&server, &data, "nas");
    let err = run(&downloader(None, Some(plain_dir.path())), &t)
        .await
        .unwrap_err();
    assert_eq!(err.code, "Target.NotMounted");
    assert!(err.message.contains("not a mount point"), "{err}");
    assert_eq!(server.bytes_sent(), 0);
    assert!(files_under(plain_dir.path()).is_empty());

    let target = nas_target(plain_dir.path());
    assert_eq!(
        target.check().await.unwrap_err().code(),
        "Target.NotMounted"
    );
    let path = RelPath::parse("dir", "x").unwrap();
    assert_eq!(
        target.open(&path, Some(1)).await.err().unwrap().code(),
        "Target.NotMounted"
    );
}

#[tokio::test]
async fn a_mounted_nas_root_receives_the_set() {
    let share = Tmpfs::mount("8m");
    let data = random_bytes(3 * MIB);
    let server = RangeServer::start(data.clone()).await;
    let t = task(&server, &data, "nas");
    run(&downloader(None, Some(share.path())), &t)
        .await
        .unwrap();
    let written = std::fs::read(share.path().join("dl/plan1/increment/mysql-bin.000054")).unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&written)),
        hex::encode(Sha256::digest(&data))
    );
    assert_eq!(
        files_under(share.path()),
        vec!["dl/plan1/increment/mysql-bin.000054"]
    );
}

#[tokio::test]
async fn a_nas_unmounted_during_the_download_fails_the_set_instead_of_finishing_it() {
    let share = Tmpfs::mount("8m");
    let nas = nas_target(share.path());
    let path = RelPath::parse("BackupSetName", "dl/plan1/full/set.xb").unwrap();
    let mut writer = nas.open(&path, Some(6)).await.unwrap();
    writer.write(Bytes::from_static(b"abc")).await.unwrap();
    // A lazy unmount leaves the open partial writable on the detached share.
    let status = std::process::Command::new("umount")
        .arg("-l")
        .arg(share.path())
        .status()
        .unwrap();
    assert!(status.success());
    writer.write(Bytes::from_static(b"def")).await.unwrap();
    let err = writer.commit().await.unwrap_err();
    assert_eq!(err.code(), "Target.NotMounted");
    // Nothing landed on the host's own disk under the root either.
    assert!(files_under(share.path()).is_empty());
}

/// Changes one field of a good task.
type Spoil = fn(&mut DownloadSpec);

#[tokio::test]
async fn hostile_dir_and_name_values_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let outside = root.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let target_root = root.path().join("root");
    std::fs::create_dir(&target_root).unwrap();
    let data = random_bytes(100);
    let server = RangeServer::start(data.clone()).await;
    let d = downloader(Some(&target_root), None);

    let cases: Vec<(Spoil, &str)> = vec![
        (|t| t.dir = "../outside".into(), "InvalidPath.Traversal"),
        (
            |t| t.dir = "a/../../outside".into(),
            "InvalidPath.Traversal",
        ),
        (|t| t.dir = "/tmp".into(), "InvalidPath.Absolute"),
        (|t| t.dir = "".into(), "InvalidPath.Empty"),
        (|t| t.backup_plan_id = "..".into(), "InvalidPath.Traversal"),
        (
            |t| t.set_name = "../../outside/x".into(),
            "InvalidPath.Traversal",
        ),
        (|t| t.set_name = "x\ny".into(), "InvalidPath.BadCharacter"),
        (|t| t.set_name = "..\\x".into(), "InvalidPath.BadCharacter"),
        (
            |t| t.set_name = ".dbs-part.x".into(),
            "InvalidPath.Reserved",
        ),
        (
            |t| t.backup_plan_id = ".dbs-part.p".into(),
            "InvalidPath.Reserved",
        ),
        (|t| t.location = "ftp".into(), "Task.UnknownLocation"),
        (
            |t| t.url = "http://203.0.113.9/x".into(),
            "Task.UrlHostNotAllowed",
        ),
        (
            |t| t.url = "file:///etc/passwd".into(),
            "Task.UrlSchemeNotAllowed",
        ),
    ];
    for (spoil, code) in cases {
        let mut t = task(&server, &data, "local");
        spoil(&mut t);
        let err = d.run_for(&t, &server.url("")).await.unwrap_err();
        assert_eq!(err.code, code, "{t:?}");
    }
    assert_eq!(server.bytes_sent(), 0);
    assert!(files_under(root.path()).is_empty());
}

#[tokio::test]
async fn a_second_writer_waits_for_a_locked_partial_and_resumes_it() {
    let root = tempfile::tempdir().unwrap();
    let target = local_target(root.path());
    let path = RelPath::parse("dir", "d/set.bin").unwrap();
    let mut first = target.open(&path, Some(10)).await.unwrap();
    first.write(Bytes::from_static(b"01234")).await.unwrap();
    let second = {
        let (target, path) = (target.clone(), path.clone());
        tokio::spawn(async move { target.open(&path, Some(10)).await })
    };
    // While the first writer holds the partial the second cannot get it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second open waits for the lock");
    first.abort(true).await.unwrap();
    let mut second = second.await.unwrap().expect("the second open succeeds");
    assert_eq!(second.offset(), 5, "it resumes what the first one left");
    second.write(Bytes::from_static(b"56789")).await.unwrap();
    second.commit().await.unwrap();
    assert_eq!(
        std::fs::read(root.path().join("d/set.bin")).unwrap(),
        b"0123456789"
    );
    assert!(!path.partial().under(root.path()).exists());
}

#[tokio::test]
async fn a_download_of_a_locked_partial_waits_then_finishes() {
    let root = tempfile::tempdir().unwrap();
    let data = random_bytes(3 * MIB);
    let server = RangeServer::start(data.clone()).await;
    let t = task(&server, &data, "local");
    let target = local_target(root.path());
    let path = layout_of(&t);
    // Another run of the same set holds the partial with its first MiB.
    let mut other = target.open(&path, Some(data.len() as u64)).await.unwrap();
    other
        .write(Bytes::copy_from_slice(&data[..MIB]))
        .await
        .unwrap();
    let d = downloader(Some(root.path()), None);
    let cancel = CancellationToken::new();
    let run = {
        let t = t.clone();
        tokio::spawn(async move { d.download(&t, &cancel, |_| {}).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!run.is_finished(), "the download waits for the other run");
    other.abort(true).await.unwrap();
    let outcome = run.await.unwrap().expect("the download finishes");
    assert_eq!(outcome.resumed_from, MIB as u64);
    let written = std::fs::read(path.under(root.path())).unwrap();
    assert_eq!(Sha256::digest(&written), Sha256::digest(&data));
    assert_eq!(files_under(root.path()), vec![path.as_slash_path()]);
}

#[tokio::test]
async fn a_download_waiting_for_a_locked_partial_stops_on_shutdown() {
    let root = tempfile::tempdir().unwrap();
    let data = random_bytes(1000);
    let server = RangeServer::start(data.clone()).await;
    let t = task(&server, &data, "local");
    let target = local_target(root.path());
    let path = layout_of(&t);
    let other = target.open(&path, Some(data.len() as u64)).await.unwrap();
    let d = downloader(Some(root.path()), None);
    let cancel = CancellationToken::new();
    let run = {
        let (t, cancel) = (t.clone(), cancel.clone());
        tokio::spawn(async move { d.download(&t, &cancel, |_| {}).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    cancel.cancel();
    let err = run.await.unwrap().unwrap_err();
    assert_eq!(err.code, "Transfer.Cancelled", "{err}");
    assert!(err.retryable);
    assert_eq!(server.bytes_sent(), 0);
    other.abort(false).await.unwrap();
}

/// The partial name of the test task's set under `root`.
fn partial_of(root: &Path, t: &DownloadSpec) -> std::path::PathBuf {
    layout_of(t).partial().under(root)
}

/// A root and a file outside it, with the bytes the file must keep.
struct Planted {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    outside_dir: std::path::PathBuf,
    outside_file: std::path::PathBuf,
}

const OUTSIDE_BYTES: &[u8] = b"precious bytes outside the target root";

fn planted() -> Planted {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside_dir = tmp.path().join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside_dir).unwrap();
    let outside_file = outside_dir.join("victim");
    std::fs::write(&outside_file, OUTSIDE_BYTES).unwrap();
    Planted {
        _tmp: tmp,
        root,
        outside_dir,
        outside_file,
    }
}

impl Planted {
    /// Nothing outside the root changed: the victim file is intact and
    /// alone in its directory.
    fn assert_outside_intact(&self) {
        assert_eq!(std::fs::read(&self.outside_file).unwrap(), OUTSIDE_BYTES);
        let names: Vec<_> = std::fs::read_dir(&self.outside_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("victim")]);
    }
}

#[tokio::test]
async fn a_symlink_planted_at_the_partial_name_is_refused() {
    let p = planted();
    let data = random_bytes(5000);
    let server = RangeServer::start(data.clone()).await;
    let t = task(&server, &data, "local");
    let part = partial_of(&p.root, &t);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&p.outside_file, &part).unwrap();
    let err = run(&downloader(Some(&p.root), None), &t).await.unwrap_err();
    assert_eq!(err.code, "Target.UnsafePath", "{err}");
    assert!(err.message.contains("symbolic link"), "{err}");
    assert!(!err.retryable);
    p.assert_outside_intact();
    let final_name = part.with_file_name(&t.set_name);
    assert!(
        std::fs::symlink_metadata(&final_name).is_err(),
        "nothing published at the final name"
    );
    assert!(std::fs::symlink_metadata(&part)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[tokio::test]
async fn a_symlinked_directory_under_the_root_is_refused() {
    let p = planted();
    let data = random_bytes(5000);
    let server = RangeServer::start(data.clone()).await;
    let t = task(&server, &data, "local");
    // `dl/plan1` leads outside the root.
    std::fs::create_dir_all(p.root.join("dl")).unwrap();
    std::os::unix::fs::symlink(&p.outside_dir, p.root.join("dl/plan1")).unwrap();
    let err = run(&downloader(Some(&p.root), None), &t).await.unwrap_err();
    assert_eq!(err.code, "Target.UnsafePath", "{err}");
    assert!(err.message.contains("dl/plan1"), "{err}");
    assert_eq!(server.bytes_sent(), 0);
    p.assert_outside_intact();
}

#[tokio::test]
async fn a_symlink_at_the_final_name_is_refused() {
    let p = planted();
    let data = random_bytes(5000);
    let server = RangeServer::start(data.clone()).await;
    let t = task(&server, &data, "local");
    let final_name = partial_of(&p.root, &t).with_file_name(&t.set_name);
    std::fs::create_dir_all(final_name.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&p.outside_file, &final_name).unwrap();
    let err = run(&downloader(Some(&p.root), None), &t).await.unwrap_err();
    assert_eq!(err.code, "Target.UnsafePath", "{err}");
    assert_eq!(server.bytes_sent(), 0);
    p.assert_outside_intact();
    assert!(!partial_of(&p.root, &t).exists());
}

#[tokio::test]
async fn a_partial_that_is_a_fifo_or_a_directory_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let data = random_bytes(5000);
    let server = RangeServer::start(data.clone()).await;
    let d = downloader(Some(root.path()), None);
    let mut fifo_task = task(&server, &data, "local");
    fifo_task.set_name = "fifo.xb".into();
    let fifo = partial_of(root.path(), &fifo_task);
    std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut dir_task = task(&server, &data, "local");
    dir_task.set_name = "dir.xb".into();
    let dir = partial_of(root.path(), &dir_task);
    std::fs::create_dir_all(&dir).unwrap();

    for (t, what) in [(&fifo_task, "FIFO"), (&dir_task, "directory")] {
        let err = run(&d, t).await.unwrap_err();
        assert_eq!(err.code, "Target.UnsafePath", "{err}");
        assert!(err.message.contains(what), "{err}");
        assert!(!partial_of(root.path(), t)
            .with_file_name(&t.set_name)
            .exists());
    }
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(dir.is_dir());
    assert_eq!(server.bytes_sent(), 0);
}

#[tokio::test]
async fn sets_named_x_and_x_part_in_one_dir_both_stay_intact() {
    let root = tempfile::tempdir().unwrap();
    let d = downloader(Some(root.path()), None);
    let x_part = random_bytes(MIB);
    let x = random_bytes(2 * MIB);
    let server_x_part = RangeServer::start(x_part.clone()).await;
    let server_x = RangeServer::start(x.clone()).await;
    let mut t_x_part = task(&server_x_part, &x_part, "local");
    t_x_part.set_name = "x.part".into();
    let mut t_x = task(&server_x, &x, "local");
    t_x.set_name = "x".into();
    run(&d, &t_x_part).await.unwrap();
    run(&d, &t_x).await.unwrap();
    let dir = root.path().join("dl/plan1/increment");
    assert_eq!(
        Sha256::digest(std::fs::read(dir.join("x")).unwrap()),
        Sha256::digest(&x)
    );
    assert_eq!(
        Sha256::digest(std::fs::read(dir.join("x.part")).unwrap()),
        Sha256::digest(&x_part)
    );
    let mut names = files_under(root.path());
    names.sort();
    assert_eq!(
        names,
        vec!["dl/plan1/increment/x", "dl/plan1/increment/x.part"]
    );
}

#[tokio::test]
async fn a_name_too_long_for_its_partial_is_refused_and_one_at_the_limit_is_written() {
    use dbs_gateway::api::layout::MAX_COMPONENT_BYTES;
    let root = tempfile::tempdir().unwrap();
    let data = random_bytes(1000);
    let server = RangeServer::start(data.clone()).await;
    let d = downloader(Some(root.path()), None);
    for len in [250, 251, 255] {
        let mut t = task(&server, &data, "local");
        t.set_name = "n".repeat(len);
        let err = run(&d, &t).await.unwrap_err();
        assert_eq!(err.code, "InvalidPath.TooLong", "{len}: {err}");
        assert!(!err.retryable);
    }
    assert_eq!(server.bytes_sent(), 0);
    assert!(files_under(root.path()).is_empty());
    let mut t = task(&server, &data, "local");
    t.set_name = "n".repeat(MAX_COMPONENT_BYTES);
    run(&d, &t).await.unwrap();
    let written = std::fs::read(root.path().join("dl/plan1/increment").join(&t.set_name)).unwrap();
    assert_eq!(written, data);
}

//! The `ftp` target against a real FTP server (pyftpdlib, started by
//! scripts/test.sh; tests that kill a server start their own).

mod targets_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use dbs_gateway::secret::Secret;
use dbs_gateway::transfer::sinks::ftp::FtpConfig;
use dbs_gateway::transfer::sinks::{SinkConfig, Target};
use targets_support::*;

fn config(root: &str) -> FtpConfig {
    let port = env("DBS_TEST_FTP_PORT")
        .parse()
        .expect("DBS_TEST_FTP_PORT is a port");
    let mut c = FtpConfig::new(
        env("DBS_TEST_FTP_HOST"),
        port,
        env("DBS_TEST_FTP_USER"),
        Secret::new(env("DBS_TEST_FTP_PASSWORD")),
    );
    c.root = root.to_owned();
    c
}

/// A root of its own for each run, so reruns against the same server start clean.
fn unique(root: &str) -> String {
    format!("{root}-{}", uuid::Uuid::new_v4().simple())
}

/// Where `rel` under FTP root `root` is on disk.
fn on_disk(root: &str, rel: &str) -> PathBuf {
    Path::new(&env("DBS_TEST_FTP_ROOT"))
        .join(root.trim_start_matches('/'))
        .join(rel)
}

fn sha_of_file(path: &Path) -> String {
    sha256(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

#[tokio::test]
async fn full_and_incremental_sets_arrive_with_equal_sha256() {
    let root = &unique("/sets-equal");
    let target = config(root).build().expect("target");
    target.check().await.expect("check");
    let full = set_bytes(9 * 1024 * 1024 + 17, 1);
    let incr = set_bytes(300 * 1024, 2);
    let full_path = layout("backups", "plan1", "full", "full_20261125.xb");
    let incr_path = layout("backups", "plan1", "increment", "mysql-bin.000054");
    upload(&target, &full_path, &full, 64 * 1024, 1)
        .await
        .expect("full set");
    upload(&target, &incr_path, &incr, 64 * 1024, 1)
        .await
        .expect("incremental set");
    for (p, data) in [(&full_path, &full), (&incr_path, &incr)] {
        let file = on_disk(root, &p.as_slash_path());
        assert_eq!(sha_of_file(&file), sha256(data), "{}", file.display());
        let part = on_disk(root, &p.partial().as_slash_path());
        assert!(!part.exists(), "no partial left at {}", part.display());
    }
}

#[tokio::test]
async fn sets_named_x_and_x_part_in_one_dir_both_stay_intact() {
    let root = &unique("/collide");
    let target = config(root).build().expect("target");
    let (x, x_part) = (set_bytes(300_000, 21), set_bytes(100_000, 22));
    let (px, pxp) = (
        layout("d", "p", "full", "x"),
        layout("d", "p", "full", "x.part"),
    );
    upload(&target, &pxp, &x_part, 64 * 1024, 1)
        .await
        .expect("x.part");
    upload(&target, &px, &x, 64 * 1024, 1).await.expect("x");
    assert_eq!(sha_of_file(&on_disk(root, "d/p/full/x")), sha256(&x));
    assert_eq!(
        sha_of_file(&on_disk(root, "d/p/full/x.part")),
        sha256(&x_part)
    );
    let mut names: Vec<_> = std::fs::read_dir(on_disk(root, "d/p/full"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    assert_eq!(names, ["x", "x.part"]);
}

#[tokio::test]
async fn empty_set_is_written() {
    let root = &unique("/empty");
    let target = config(root).build().expect("target");
    let path = layout("d", "p", "increment", "empty.bin");
    upload(&target, &path, &bytes::Bytes::new(), 1024, 1)
        .await
        .expect("empty set");
    assert_eq!(
        std::fs::metadata(on_disk(root, &path.as_slash_path()))
            .expect("file")
            .len(),
        0
    );
}

#[tokio::test]
async fn writer_dropped_mid_way_resumes_from_the_servers_bytes() {
    let root = &unique("/dropped");
    let target = config(root).build().expect("target");
    let data = set_bytes(6 * 1024 * 1024, 3);
    let path = layout("d", "p", "full", "set.xb");
    // First attempt: half the set, then the writer is dropped without commit
    // or abort, as when the agent is killed.
    let mut w = target
        .open(&path, Some(data.len() as u64))
        .await
        .expect("open");
    assert_eq!(w.offset(), 0);
    write_from(&mut w, &data.slice(..3 * 1024 * 1024), 0, 64 * 1024)
        .await
        .expect("write half");
    drop(w);
    let final_file = on_disk(root, &path.as_slash_path());
    assert!(
        !final_file.exists(),
        "nothing at the final name before commit"
    );
    // The server notices the dropped data connection on its own time: wait
    // until the partial it kept is on its disk and no longer growing. (On a
    // loaded machine the dropped writer may not have sent anything yet; then
    // the server keeps nothing and the resume must start at zero.)
    let part = on_disk(root, &path.partial().as_slash_path());
    let mut last = 0;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let size = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if size > 0 && size == last {
            break;
        }
        last = size;
    }
    // A new attempt resumes from exactly what reached the server.
    let resumed = upload(&target, &path, &data, 64 * 1024, 1)
        .await
        .expect("resume");
    assert_eq!(
        resumed[0], last,
        "resumed from the server's partial of {last} bytes"
    );
    assert_eq!(sha_of_file(&final_file), sha256(&data));
}

#[tokio::test]
async fn size_mismatch_fails_and_leaves_nothing() {
    let root = &unique("/mismatch");
    let target = config(root).build().expect("target");
    let path = layout("d", "p", "full", "short.xb");
    let data = set_bytes(100_000, 4);
    let mut w = target.open(&path, Some(200_000)).await.expect("open");
    write_from(&mut w, &data, 0, 8192).await.expect("write");
    let e = w.commit().await.expect_err("short set must not commit");
    assert_eq!(e.code(), "Target.SizeMismatch");
    let file = on_disk(root, &path.as_slash_path());
    assert!(!file.exists());
    assert!(!on_disk(root, &path.partial().as_slash_path()).exists());
}

#[tokio::test]
async fn abort_without_keep_removes_the_partial() {
    let root = &unique("/aborted");
    let target = config(root).build().expect("target");
    let path = layout("d", "p", "full", "a.xb");
    let mut w = target.open(&path, Some(1 << 20)).await.expect("open");
    write_from(&mut w, &set_bytes(1 << 19, 5), 0, 8192)
        .await
        .expect("write");
    w.abort(false).await.expect("abort");
    let file = on_disk(root, &path.as_slash_path());
    assert!(!file.exists() && !on_disk(root, &path.partial().as_slash_path()).exists());
}

#[tokio::test]
async fn wrong_password_is_access_denied() {
    let mut c = config("/");
    c.password = Some(Secret::new("not-the-password"));
    let target = c.build().expect("target");
    let e = target.check().await.expect_err("wrong password");
    assert_eq!(e.code(), "Target.AccessDenied", "{e}");
    assert!(!e.is_retryable());
    assert!(!e.to_string().contains("not-the-password"), "{e}");
    let e = target
        .open(&layout("d", "p", "full", "x"), Some(1))
        .await
        .err()
        .expect("open with wrong password");
    assert_eq!(e.code(), "Target.AccessDenied");
}

/// An FTP server of our own, to kill and restart.
struct OwnServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl OwnServer {
    fn start(port: u16, dir: &Path) -> Self {
        let cmd = env("DBS_TEST_FTP_SERVER");
        let mut parts = cmd.split_whitespace();
        let program = parts.next().expect("DBS_TEST_FTP_SERVER has a program");
        let child = Command::new(program)
            .args(parts)
            .args(["-p", &port.to_string(), "-d"])
            .arg(dir)
            .args(["-u", "killme", "-P", "pw"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start pyftpdlib");
        wait_for_port(port);
        OwnServer {
            child,
            port,
            dir: dir.to_owned(),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn server_killed_mid_upload_then_restarted_completes_the_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut server = OwnServer::start(port, dir.path());
    let target = FtpConfig::new("127.0.0.1", port, "killme", Secret::new("pw"))
        .build()
        .expect("target");
    let data = set_bytes(24 * 1024 * 1024, 6);
    let path = layout("d", "p", "full", "killed.xb");

    // Write a third, kill the server, keep writing until the write fails.
    let mut w = target
        .open(&path, Some(data.len() as u64))
        .await
        .expect("open");
    write_from(&mut w, &data.slice(..8 * 1024 * 1024), 0, 64 * 1024)
        .await
        .expect("first third");
    server.kill();
    let failed = write_from(&mut w, &data, 8 * 1024 * 1024, 64 * 1024).await;
    let e = failed.expect_err("writing to a killed server fails");
    assert!(e.is_retryable(), "a dropped connection is retryable: {e}");
    drop(w);

    // The server comes back; the next attempt resumes from its bytes.
    let restarted = OwnServer::start(server.port, &server.dir);
    let resumed = upload(&target, &path, &data, 64 * 1024, 5)
        .await
        .expect("upload after restart");
    assert!(resumed[0] > 0, "resumed, not restarted: {resumed:?}");
    let file = restarted.dir.join(path.as_slash_path());
    assert_eq!(sha_of_file(&file), sha256(&data));
}

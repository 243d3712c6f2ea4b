//! The `minio` target against a real S3-compatible server (s3s-fs, built and
//! started by scripts/test.sh; tests that kill a server start their own).
//!
//! s3s-fs 0.14 does not implement ListMultipartUploads, so "no multipart
//! upload left" is checked where that server keeps them: its staging files
//! `.upload-{id}.json` and `.upload_id-{id}.part-{n}` in its data dir, which
//! AbortMultipartUpload and CompleteMultipartUpload remove.

mod targets_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dbs_gateway::secret::Secret;
use dbs_gateway::transfer::sinks::minio::MinioConfig;
use dbs_gateway::transfer::sinks::{SinkConfig, Target};
use targets_support::*;

fn config(prefix: &str) -> MinioConfig {
    let mut c = MinioConfig::new(
        env("DBS_TEST_S3_ENDPOINT"),
        env("DBS_TEST_S3_BUCKET"),
        env("DBS_TEST_S3_ACCESS_KEY"),
        Secret::new(env("DBS_TEST_S3_SECRET_KEY")),
    );
    c.prefix = prefix.to_owned();
    c.part_size_mib = 5;
    c.parts_in_flight = 2;
    c
}

fn object_file(data_dir: &Path, bucket: &str, key: &str) -> PathBuf {
    data_dir.join(bucket).join(key)
}

/// In-progress multipart uploads the server holds (see the module doc).
fn uploads_in_progress(data_dir: &Path) -> Vec<String> {
    std::fs::read_dir(data_dir)
        .expect("s3 data dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".upload-") || n.starts_with(".upload_id-"))
        .collect()
}

fn shared_data_dir() -> PathBuf {
    PathBuf::from(env("DBS_TEST_S3_ROOT"))
}

fn sha_of_file(path: &Path) -> String {
    sha256(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

#[tokio::test]
async fn full_and_incremental_sets_arrive_with_equal_sha256() {
    let prefix = format!("equal-{}", uuid::Uuid::new_v4().simple());
    let target = config(&prefix).build().expect("target");
    target.check().await.expect("check");
    let full = set_bytes(23 * 1024 * 1024 + 5, 11); // 5 parts, the last short
    let incr = set_bytes(700 * 1024, 12); // one PUT
    let full_path = layout("backups", "plan1", "full", "full_20261125.xb");
    let incr_path = layout("backups", "plan1", "increment", "mysql-bin.000054");
    upload(&target, &full_path, &full, 64 * 1024, 1)
        .await
        .expect("full set");
    upload(&target, &incr_path, &incr, 64 * 1024, 1)
        .await
        .expect("incremental set");
    let bucket = env("DBS_TEST_S3_BUCKET");
    for (p, data) in [(&full_path, &full), (&incr_path, &incr)] {
        let key = target.key(p);
        assert!(
            key.starts_with(&format!("{prefix}/backups/plan1/")),
            "{key}"
        );
        assert_eq!(
            sha_of_file(&object_file(&shared_data_dir(), &bucket, &key)),
            sha256(data),
            "{key}"
        );
        let marker = object_file(&shared_data_dir(), &bucket, &target.key(&p.partial()));
        assert!(!marker.exists(), "marker removed after commit");
    }
}

#[tokio::test]
async fn sets_named_x_and_x_part_in_one_dir_both_stay_intact() {
    let prefix = format!("collide-{}", uuid::Uuid::new_v4().simple());
    let target = config(&prefix).build().expect("target");
    let bucket = env("DBS_TEST_S3_BUCKET");
    let (x, x_part) = (set_bytes(300_000, 31), set_bytes(100_000, 32));
    let (px, pxp) = (
        layout("d", "p", "full", "x"),
        layout("d", "p", "full", "x.part"),
    );
    upload(&target, &pxp, &x_part, 64 * 1024, 1)
        .await
        .expect("x.part");
    upload(&target, &px, &x, 64 * 1024, 1).await.expect("x");
    for (p, data) in [(&px, &x), (&pxp, &x_part)] {
        let file = object_file(&shared_data_dir(), &bucket, &target.key(p));
        assert_eq!(sha_of_file(&file), sha256(data), "{}", file.display());
    }
}

#[tokio::test]
async fn an_oversized_marker_is_refused_and_left_in_place() {
    let prefix = format!("marker-{}", uuid::Uuid::new_v4().simple());
    let target = config(&prefix).build().expect("target");
    let bucket = env("DBS_TEST_S3_BUCKET");
    let path = layout("d", "p", "full", "set.xb");
    // Something that is not an upload id sits at the marker's key: 8 MiB.
    let marker = object_file(&shared_data_dir(), &bucket, &target.key(&path.partial()));
    std::fs::create_dir_all(marker.parent().expect("parent")).expect("marker dir");
    let junk = set_bytes(8 * 1024 * 1024, 33);
    std::fs::write(&marker, &junk).expect("plant the marker");
    let e = target
        .open(&path, Some(1000))
        .await
        .err()
        .expect("an oversized marker is refused");
    assert_eq!(e.code(), "Target.Unavailable", "{e}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("marker object"), "{e}");
    assert_eq!(
        sha_of_file(&marker),
        sha256(&junk),
        "the object is left as it was"
    );
    assert!(!object_file(&shared_data_dir(), &bucket, &target.key(&path)).exists());
}

#[tokio::test]
async fn failed_upload_leaves_no_parts_and_no_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = OwnServer::start(dir.path());
    let target = server.config().build().expect("target");
    let path = layout("d", "p", "full", "short.xb");
    let data = set_bytes(12 * 1024 * 1024, 13);
    // Announced 20 MiB, only 12 arrive: commit must fail and clean up.
    let mut w = target
        .open(&path, Some(20 * 1024 * 1024))
        .await
        .expect("open");
    write_from(&mut w, &data, 0, 64 * 1024)
        .await
        .expect("write");
    assert!(
        !uploads_in_progress(dir.path()).is_empty(),
        "parts were uploaded before commit"
    );
    let e = w.commit().await.expect_err("short set");
    assert_eq!(e.code(), "Target.SizeMismatch");
    assert_eq!(
        uploads_in_progress(dir.path()),
        Vec::<String>::new(),
        "no multipart upload left"
    );
    assert!(!object_file(dir.path(), "bkt", &target.key(&path)).exists());

    // abort() of a running upload cleans up too.
    let mut w = target
        .open(&path, Some(20 * 1024 * 1024))
        .await
        .expect("open");
    write_from(&mut w, &data, 0, 64 * 1024)
        .await
        .expect("write");
    w.abort(true).await.expect("abort");
    assert_eq!(uploads_in_progress(dir.path()), Vec::<String>::new());
    assert!(!object_file(dir.path(), "bkt", &target.key(&path.partial())).exists());
}

#[tokio::test]
async fn agent_killed_mid_upload_next_attempt_aborts_the_orphan_and_completes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = OwnServer::start(dir.path());
    let target = server.config().build().expect("target");
    let path = layout("d", "p", "full", "killed.xb");
    let data = set_bytes(18 * 1024 * 1024, 14);
    let mut w = target
        .open(&path, Some(data.len() as u64))
        .await
        .expect("open");
    write_from(&mut w, &data.slice(..11 * 1024 * 1024), 0, 64 * 1024)
        .await
        .expect("write");
    // The agent dies: no commit, no abort; its running part uploads stop.
    drop(w);
    let orphans = uploads_in_progress(dir.path());
    assert!(!orphans.is_empty(), "the dead attempt left an upload");
    let resumed = upload(&target, &path, &data, 64 * 1024, 1)
        .await
        .expect("new attempt");
    assert_eq!(resumed, vec![0], "S3 starts over after a restart");
    assert_eq!(
        uploads_in_progress(dir.path()),
        Vec::<String>::new(),
        "orphan aborted"
    );
    assert_eq!(
        sha_of_file(&object_file(dir.path(), "bkt", &target.key(&path))),
        sha256(&data)
    );
}

#[tokio::test]
async fn server_killed_mid_upload_then_restarted_completes_the_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = OwnServer::start(dir.path());
    let target = server.config().build().expect("target");
    let path = layout("d", "p", "full", "server-killed.xb");
    let data = set_bytes(30 * 1024 * 1024, 15);
    let mut w = target
        .open(&path, Some(data.len() as u64))
        .await
        .expect("open");
    write_from(&mut w, &data.slice(..11 * 1024 * 1024), 0, 64 * 1024)
        .await
        .expect("first parts");
    server.kill();
    // Bring it back while the writer's requests are retrying.
    let restart = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_secs(2));
        server.restart();
        server
    });
    write_from(&mut w, &data, 11 * 1024 * 1024, 64 * 1024)
        .await
        .expect("rest, retried");
    w.commit().await.expect("commit after restart");
    let server = restart.await.expect("restart task");
    assert_eq!(
        sha_of_file(&object_file(&server.dir, "bkt", &target.key(&path))),
        sha256(&data)
    );
    assert_eq!(uploads_in_progress(&server.dir), Vec::<String>::new());
}

#[tokio::test]
async fn wrong_secret_key_is_access_denied() {
    let mut c = config("denied");
    c.secret_access_key = Some(Secret::new("wrong-secret-key"));
    let target = c.build().expect("target");
    let e = target.check().await.expect_err("wrong key");
    assert_eq!(e.code(), "Target.AccessDenied", "{e}");
    assert!(!e.is_retryable());
    assert!(!e.to_string().contains("wrong-secret-key"), "{e}");
    let mut c = config("denied");
    c.access_key_id = "NOSUCHKEY".into();
    let e = c
        .build()
        .expect("target")
        .check()
        .await
        .expect_err("unknown key");
    assert_eq!(e.code(), "Target.AccessDenied", "{e}");
}

#[tokio::test]
async fn missing_bucket_is_unusable() {
    let mut c = config("");
    c.bucket = "no-such-bucket".into();
    let e = c
        .build()
        .expect("target")
        .check()
        .await
        .expect_err("missing bucket");
    assert_eq!(e.code(), "Target.Unavailable", "{e}");
}

/// An s3s-fs server of our own, to kill and restart, with bucket `bkt`.
struct OwnServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl OwnServer {
    fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join("bkt")).expect("bucket dir");
        let port = free_port();
        let child = Self::spawn(port, dir);
        OwnServer {
            child,
            port,
            dir: dir.to_owned(),
        }
    }

    fn spawn(port: u16, dir: &Path) -> Child {
        let child = Command::new(env("DBS_TEST_S3_SERVER"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", "ownkey", "--secret-key", "ownsecret"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        wait_for_port(port);
        child
    }

    fn config(&self) -> MinioConfig {
        let mut c = MinioConfig::new(
            format!("http://127.0.0.1:{}", self.port),
            "bkt",
            "ownkey",
            Secret::new("ownsecret"),
        );
        c.part_size_mib = 5;
        c.parts_in_flight = 2;
        c
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.child = Self::spawn(self.port, &self.dir);
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
    }
}

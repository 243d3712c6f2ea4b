//! The `minio` target's own behaviour against a real S3-compatible server
//! (s3s-fs, one per test: support::fixtures::Minio), beyond the behaviour
//! suite (tests/sink_behaviour.rs): downloads through the pipeline after the
//! agent or the server died, name collisions, the marker cap, no parts left
//! behind, refused keys and a missing bucket.
//!
//! s3s-fs 0.14 does not implement ListMultipartUploads, so "no multipart
//! upload left" is checked where that server keeps them (see
//! `ServerProcess::s3_uploads_in_progress`).

mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::files::{content, files_under, sha256, sha256_file};
use support::fixtures::{Minio, SinkFixture};
use support::http_range_server::RangeServer;
use support::servers::{S3_BUCKET, S3_SECRET_KEY};
use support::sinks::{layout, spec, write_from, Pipeline, Tuning};

const MIB: usize = 1024 * 1024;

fn pipeline(sink: &Minio) -> Pipeline {
    Pipeline::new(&sink.section(), Tuning::default())
}

/// The file of a key under the fixture's prefix.
fn object(sink: &Minio, rel: &str) -> PathBuf {
    sink.root().join(rel)
}

#[tokio::test]
async fn sets_named_x_and_x_part_in_one_dir_both_stay_intact() {
    let sink = Minio::start(None);
    let pipeline = pipeline(&sink);
    for (name, data) in [
        ("x.part", content(100_000, 32)),
        ("x", content(300_000, 31)),
    ] {
        let server = RangeServer::start(data.clone()).await;
        let task = spec(&server.url(name), "minio", "d", name, &data);
        pipeline.run(&task).await.expect(name);
    }
    let x = object(&sink, "d/plan1/full/x");
    assert_eq!(sha256_file(&x), sha256(&content(300_000, 31)));
    let x_part = object(&sink, "d/plan1/full/x.part");
    assert_eq!(sha256_file(&x_part), sha256(&content(100_000, 32)));
    assert_eq!(
        files_under(&sink.root().join("d/plan1/full")),
        vec![PathBuf::from("x"), "x.part".into()]
    );
}

#[tokio::test]
async fn an_oversized_marker_is_refused_and_left_in_place() {
    let sink = Minio::start(None);
    let path = layout("d", "p", "full", "set.xb");
    // Something that is not an upload id sits at the marker's key: 8 MiB.
    let marker = object(&sink, &path.partial().as_slash_path());
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    let junk = content(8 * MIB, 33);
    std::fs::write(&marker, &junk).unwrap();
    let e = pipeline(&sink)
        .target("minio")
        .open(&path, Some(1000))
        .await
        .err()
        .expect("an oversized marker is refused");
    assert_eq!(e.code(), "Target.Unavailable", "{e}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("marker object"), "{e}");
    assert_eq!(sha256_file(&marker), sha256(&junk), "left as it was");
    assert!(!object(&sink, &path.as_slash_path()).exists());
}

#[tokio::test]
async fn a_failed_upload_leaves_no_parts_and_no_object() {
    let sink = Minio::start(None);
    let target = pipeline(&sink).target("minio");
    let path = layout("d", "p", "full", "short.xb");
    let data = content(12 * MIB, 13);
    // Announced 20 MiB, only 12 arrive: commit must fail and clean up.
    let mut writer = target
        .open(&path, Some(20 * MIB as u64))
        .await
        .expect("open");
    write_from(&mut writer, &data, 0, 64 * 1024)
        .await
        .expect("write");
    assert!(
        !sink.pending().is_empty(),
        "parts were uploaded before commit"
    );
    let e = writer.commit().await.expect_err("short set");
    assert_eq!(e.code(), "Target.SizeMismatch");
    assert_eq!(sink.pending(), Vec::<String>::new(), "no upload left");
    assert_eq!(files_under(&sink.root()), Vec::<PathBuf>::new());

    // abort() of a running upload cleans up too.
    let mut writer = target
        .open(&path, Some(20 * MIB as u64))
        .await
        .expect("open");
    write_from(&mut writer, &data, 0, 64 * 1024)
        .await
        .expect("write");
    writer.abort(true).await.expect("abort");
    assert_eq!(sink.pending(), Vec::<String>::new());
    assert_eq!(files_under(&sink.root()), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn after_the_agent_died_mid_upload_the_next_run_aborts_the_orphan_and_starts_over() {
    let sink = Minio::start(None);
    let data = content(18 * MIB, 14);
    let server = RangeServer::start(data.clone()).await;
    let task = spec(&server.url("set"), "minio", "d", "killed.xb", &data);
    let pipeline = pipeline(&sink);
    let path = layout("d", "plan1", "full", "killed.xb");
    let mut writer = pipeline
        .target("minio")
        .open(&path, Some(data.len() as u64))
        .await
        .expect("open");
    write_from(&mut writer, &data[..11 * MIB], 0, 64 * 1024)
        .await
        .expect("write");
    // The agent dies: no commit, no abort.
    drop(writer);
    assert!(!sink.pending().is_empty(), "the dead run left an upload");
    let outcome = pipeline.run(&task).await.expect("the next run");
    assert_eq!(outcome.resumed_from, 0, "S3 starts over after a restart");
    assert_eq!(server.ranges(), vec![None]);
    assert_eq!(sink.pending(), Vec::<String>::new(), "orphan aborted");
    assert_eq!(
        sha256_file(&object(&sink, &path.as_slash_path())),
        sha256(&data)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_download_then_restarted_completes_the_set() {
    let mut sink = Minio::start(None);
    // The S3 client retries each request for longer than the outage.
    let section = sink
        .section()
        .replace("retry_timeout_secs = 2", "retry_timeout_secs = 30");
    let data = content(30 * MIB, 15);
    let server = RangeServer::start(data.clone()).await;
    let task = spec(&server.url("set"), "minio", "d", "killed.xb", &data);
    let slow = Pipeline::new(
        &section,
        Tuning {
            max_retries: 10,
            bandwidth: 8 * MIB as u64,
        },
    );
    let download = tokio::spawn(async move { slow.run(&task).await });
    sink.server.outage_after(
        11 * MIB as u64,
        || server.bytes_sent(),
        Duration::from_secs(2),
    );
    let outcome = download
        .await
        .unwrap()
        .expect("completed after the restart");
    assert_eq!(outcome.attempts, 1, "the source was read once: {outcome:?}");
    assert_eq!(server.bytes_sent(), data.len() as u64);
    assert_eq!(
        sha256_file(&object(&sink, "d/plan1/full/killed.xb")),
        sha256(&data)
    );
    assert_eq!(sink.pending(), Vec::<String>::new());
}

#[tokio::test]
async fn a_wrong_secret_key_is_access_denied() {
    let sink = Minio::start(None);
    let wrong = sink.section().replace(S3_SECRET_KEY, "wrong-secret-key");
    let e = Pipeline::new(&wrong, Tuning::default())
        .target("minio")
        .check()
        .await
        .expect_err("wrong key");
    assert_eq!(e.code(), "Target.AccessDenied", "{e}");
    assert!(!e.is_retryable());
    assert!(!e.to_string().contains("wrong-secret-key"), "{e}");
    let unknown = sink.section().replace(
        "access_key_id = \"suitekey\"",
        "access_key_id = \"NOSUCHKEY\"",
    );
    let e = Pipeline::new(&unknown, Tuning::default())
        .target("minio")
        .check()
        .await
        .expect_err("unknown key");
    assert_eq!(e.code(), "Target.AccessDenied", "{e}");
}

#[tokio::test]
async fn a_missing_bucket_is_unusable() {
    let sink = Minio::start(None);
    let section = sink.section().replace(
        &format!("bucket = {S3_BUCKET:?}"),
        "bucket = \"no-such-bucket\"",
    );
    let e = Pipeline::new(&section, Tuning::default())
        .target("minio")
        .check()
        .await
        .expect_err("missing bucket");
    assert_eq!(e.code(), "Target.Unavailable", "{e}");
}

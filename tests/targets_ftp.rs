//! The `ftp` target's own behaviour against a real FTP server (pyftpdlib,
//! one per test: support::fixtures::Ftp), beyond the behaviour suite
//! (tests/sink_behaviour.rs): downloads through the pipeline after the
//! agent or the server died, name collisions, the sink contract at commit
//! and abort, a refused login.

mod support;

use std::time::Duration;

use support::files::{content, files_under, sha256, sha256_file};
use support::fixtures::{Ftp, SinkFixture};
use support::http_range_server::RangeServer;
use support::servers::FTP_PASSWORD;
use support::sinks::{layout, spec, write_from, Pipeline, Tuning};
use support::wait_for;

const MIB: usize = 1024 * 1024;

fn pipeline(sink: &Ftp) -> Pipeline {
    Pipeline::new(&sink.section(), Tuning::default())
}

#[tokio::test]
async fn sets_named_x_and_x_part_in_one_dir_both_stay_intact() {
    let sink = Ftp::start(None);
    let pipeline = pipeline(&sink);
    for (name, data) in [
        ("x.part", content(100_000, 22)),
        ("x", content(300_000, 21)),
    ] {
        let server = RangeServer::start(data.clone()).await;
        let task = spec(&server.url(name), "ftp", "d", name, &data);
        pipeline.run(&task).await.expect(name);
    }
    let dir = sink.root().join("d/plan1/full");
    assert_eq!(sha256_file(&dir.join("x")), sha256(&content(300_000, 21)));
    assert_eq!(
        sha256_file(&dir.join("x.part")),
        sha256(&content(100_000, 22))
    );
    assert_eq!(
        files_under(&dir),
        vec![std::path::PathBuf::from("x"), "x.part".into()]
    );
}

#[tokio::test]
async fn an_empty_set_is_written() {
    let sink = Ftp::start(None);
    let server = RangeServer::start(Vec::new()).await;
    let task = spec(&server.url("empty"), "ftp", "d", "empty.bin", &[]);
    pipeline(&sink).run(&task).await.expect("empty set");
    let file = sink.root().join("d/plan1/full/empty.bin");
    assert_eq!(std::fs::metadata(file).expect("file").len(), 0);
}

#[tokio::test]
async fn after_the_agent_died_mid_upload_the_next_run_resumes_from_the_servers_bytes() {
    let sink = Ftp::start(None);
    let data = content(6 * MIB, 3);
    let server = RangeServer::start(data.clone()).await;
    let task = spec(&server.url("set"), "ftp", "d", "set.xb", &data);
    let pipeline = pipeline(&sink);
    // An earlier run wrote half the set, then the agent died: the writer is
    // dropped without commit or abort.
    let path = layout("d", "plan1", "full", "set.xb");
    let mut writer = pipeline
        .target("ftp")
        .open(&path, Some(data.len() as u64))
        .await
        .expect("open");
    write_from(&mut writer, &data[..3 * MIB], 0, 64 * 1024)
        .await
        .expect("write half");
    drop(writer);
    let final_file = sink.root().join(path.as_slash_path());
    assert!(!final_file.exists(), "nothing at the final name");
    // The server keeps what reached it once it notices the dead connection.
    let part = sink.root().join(path.partial().as_slash_path());
    let mut last = 0;
    let kept = wait_for("the partial to settle", Duration::from_secs(20), || {
        let size = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        let settled = size > 0 && size == last;
        last = size;
        settled.then_some(size)
    });

    let outcome = pipeline.run(&task).await.expect("resumed");
    assert_eq!(
        outcome.resumed_from, kept,
        "resumed from the server's partial"
    );
    assert_eq!(server.ranges(), vec![Some(format!("bytes={kept}-"))]);
    assert_eq!(server.bytes_sent(), data.len() as u64 - kept);
    assert_eq!(sha256_file(&final_file), sha256(&data));
    assert!(!part.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_download_then_restarted_completes_the_set() {
    let mut sink = Ftp::start(None);
    let data = content(24 * MIB, 6);
    let server = RangeServer::start(data.clone()).await;
    let task = spec(&server.url("set"), "ftp", "d", "killed.xb", &data);
    let slow = Pipeline::new(
        &sink.section(),
        Tuning {
            max_retries: 10,
            bandwidth: 8 * MIB as u64,
        },
    );
    let download = tokio::spawn(async move { slow.run(&task).await });
    sink.server.outage_after(
        8 * MIB as u64,
        || server.bytes_sent(),
        Duration::from_secs(1),
    );
    let outcome = download
        .await
        .unwrap()
        .expect("completed after the restart");
    assert!(outcome.attempts >= 2, "{outcome:?}");
    let file = sink.root().join("d/plan1/full/killed.xb");
    assert_eq!(sha256_file(&file), sha256(&data));
    assert!(
        server.bytes_sent() < 2 * data.len() as u64,
        "resumed, not restarted"
    );
}

#[tokio::test]
async fn a_short_set_fails_at_commit_and_leaves_nothing() {
    let sink = Ftp::start(None);
    let target = pipeline(&sink).target("ftp");
    let path = layout("d", "p", "full", "short.xb");
    let mut writer = target.open(&path, Some(200_000)).await.expect("open");
    write_from(&mut writer, &content(100_000, 4), 0, 8192)
        .await
        .expect("write");
    let e = writer
        .commit()
        .await
        .expect_err("a short set must not commit");
    assert_eq!(e.code(), "Target.SizeMismatch");
    assert_eq!(files_under(&sink.root()), Vec::<std::path::PathBuf>::new());
}

#[tokio::test]
async fn abort_without_keep_removes_the_partial() {
    let sink = Ftp::start(None);
    let target = pipeline(&sink).target("ftp");
    let path = layout("d", "p", "full", "a.xb");
    let mut writer = target.open(&path, Some(1 << 20)).await.expect("open");
    write_from(&mut writer, &content(1 << 19, 5), 0, 8192)
        .await
        .expect("write");
    writer.abort(false).await.expect("abort");
    assert_eq!(files_under(&sink.root()), Vec::<std::path::PathBuf>::new());
}

#[tokio::test]
async fn a_wrong_password_is_access_denied() {
    let sink = Ftp::start(None);
    let section = sink.section().replace(FTP_PASSWORD, "not-the-password");
    let target = Pipeline::new(&section, Tuning::default()).target("ftp");
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

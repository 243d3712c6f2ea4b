//! The download pipeline against a real HTTP server in the test process:
//! full download, resume after a dropped connection and from a partial file,
//! a server that ignores Range, corrupt bytes, cancellation, the CLI.

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use dbs_gateway::api::gateway::DownloadSpec;
use dbs_gateway::api::layout::set_layout;
use dbs_gateway::transfer::{run_download_cli, Checksum};
use rand::RngCore;
use sha2::{Digest, Sha256};
use support::fixtures::local_section;
use support::http_range_server::RangeServer;
use support::sinks::{spec, Pipeline, Report, Tuning};
use tokio_util::sync::CancellationToken;

const MIB: usize = 1024 * 1024;

fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::rng().fill_bytes(&mut data);
    data
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn config() -> Tuning {
    Tuning {
        max_retries: 3,
        bandwidth: 0,
    }
}

fn local_downloader(root: &Path, tuning: Tuning) -> Pipeline {
    Pipeline::new(&local_section(root), tuning)
}

fn task(server: &RangeServer, data: &[u8]) -> DownloadSpec {
    let mut t = spec(
        &server.url("full.xb"),
        "local",
        "dl/db1",
        "full_20261125.xb",
        data,
    );
    t.backup_plan_id = "plan-7".into();
    t
}

fn final_path(root: &Path, t: &DownloadSpec) -> PathBuf {
    set_layout(&t.dir, &t.backup_plan_id, t.kind, &t.set_name)
        .unwrap()
        .under(root)
}

fn part_path(root: &Path, t: &DownloadSpec) -> PathBuf {
    set_layout(&t.dir, &t.backup_plan_id, t.kind, &t.set_name)
        .unwrap()
        .partial()
        .under(root)
}

#[tokio::test]
async fn full_download_lands_at_the_layout_path_with_equal_sha256() {
    let data = random_bytes(3 * MIB + 17);
    let server = RangeServer::start(data.clone()).await;
    let root = tempfile::tempdir().unwrap();
    let t = task(&server, &data);
    let reports = Arc::new(Mutex::new(Vec::new()));
    let seen = reports.clone();
    let outcome = local_downloader(root.path(), config())
        .download(&t, &CancellationToken::new(), move |p: &Report| {
            seen.lock().unwrap().push(*p)
        })
        .await
        .unwrap();

    let written = std::fs::read(final_path(root.path(), &t)).unwrap();
    assert_eq!(sha256_hex(&written), sha256_hex(&data));
    assert_eq!(outcome.crc64, t.crc64);
    assert_eq!(outcome.size, data.len() as u64);
    assert_eq!(outcome.resumed_from, 0);
    assert!(!part_path(root.path(), &t).exists());
    assert_eq!(server.bytes_sent(), data.len() as u64);
    assert!(final_path(root.path(), &t).ends_with("dl/db1/plan-7/full/full_20261125.xb"));
    let last = *reports.lock().unwrap().last().unwrap();
    assert_eq!(
        (last.done, last.total, last.percent),
        (outcome.size, outcome.size, 100.0)
    );
}

#[tokio::test]
async fn a_dropped_connection_resumes_where_it_broke() {
    let data = random_bytes(4 * MIB);
    let server = RangeServer::start(data.clone()).await;
    server.set(|f| f.drop_after = Some(MIB as u64 + 12345));
    let root = tempfile::tempdir().unwrap();
    let t = task(&server, &data);
    let outcome = local_downloader(root.path(), config())
        .run(&t)
        .await
        .unwrap();

    let written = std::fs::read(final_path(root.path(), &t)).unwrap();
    assert_eq!(sha256_hex(&written), sha256_hex(&data));
    assert!(outcome.attempts >= 2, "attempts: {}", outcome.attempts);
    let ranges = server.ranges();
    assert_eq!(ranges[0], None);
    assert!(
        ranges[1]
            .as_deref()
            .is_some_and(|r| r.starts_with("bytes=") && r != "bytes=0-"),
        "second request resumes with a Range: {ranges:?}"
    );
    // Resumed, not restarted: the server sent less than twice the set.
    assert!(server.bytes_sent() < 2 * data.len() as u64);
    // Bytes in flight when the connection broke are lost, never counted twice.
    assert!(outcome.downloaded <= server.bytes_sent());
}

#[tokio::test]
async fn a_partial_from_an_earlier_run_is_rehashed_and_resumed() {
    let data = random_bytes(2 * MIB + 3);
    let server = RangeServer::start(data.clone()).await;
    let root = tempfile::tempdir().unwrap();
    let t = task(&server, &data);
    let half = data.len() / 2;
    let part = part_path(root.path(), &t);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, &data[..half]).unwrap();

    let outcome = local_downloader(root.path(), config())
        .run(&t)
        .await
        .unwrap();

    assert_eq!(outcome.resumed_from, half as u64);
    assert_eq!(server.bytes_sent(), (data.len() - half) as u64);
    assert_eq!(server.ranges(), vec![Some(format!("bytes={half}-"))]);
    let written = std::fs::read(final_path(root.path(), &t)).unwrap();
    assert_eq!(sha256_hex(&written), sha256_hex(&data));
    assert!(!part.exists());
}

#[tokio::test]
async fn a_server_that_ignores_range_restarts_from_zero() {
    let data = random_bytes(MIB + 5);
    let server = RangeServer::start(data.clone()).await;
    server.set(|f| f.ignore_range = true);
    let root = tempfile::tempdir().unwrap();
    let t = task(&server, &data);
    let part = part_path(root.path(), &t);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    // A partial whose bytes differ from the set: appending to it would be
    // caught by the checksum; restarting from zero must not keep it.
    std::fs::write(&part, vec![0u8; 1000]).unwrap();

    let outcome = local_downloader(root.path(), config())
        .run(&t)
        .await
        .unwrap();

    assert_eq!(server.ranges(), vec![Some("bytes=1000-".to_string())]);
    assert_eq!(server.bytes_sent(), data.len() as u64);
    assert_eq!(outcome.downloaded, data.len() as u64);
    let written = std::fs::read(final_path(root.path(), &t)).unwrap();
    assert_eq!(sha256_hex(&written), sha256_hex(&data));
}

#[tokio::test]
async fn corrupt_bytes_fail_with_the_checksum_code_and_leave_nothing() {
    let data = random_bytes(MIB);
    let server = RangeServer::start(data.clone()).await;
    server.set(|f| f.corrupt_at = Some(500_000));
    let root = tempfile::tempdir().unwrap();
    let t = task(&server, &data);
    let err = local_downloader(root.path(), config())
        .run(&t)
        .await
        .unwrap_err();

    assert_eq!(err.code, "Transfer.ChecksumMismatch");
    assert!(!err.retryable);
    assert!(!final_path(root.path(), &t).exists());
    assert!(!part_path(root.path(), &t).exists());
}

#[tokio::test]
async fn an_expired_url_fails_without_retrying_and_keeps_the_partial() {
    let data = random_bytes(MIB);
    let server = RangeServer::start(data.clone()).await;
    server.set(|f| f.fail_status = Some(403));
    let root = tempfile::tempdir().unwrap();
    let t = task(&server, &data);
    let part = part_path(root.path(), &t);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, &data[..1000]).unwrap();
    let err = local_downloader(root.path(), config())
        .run(&t)
        .await
        .unwrap_err();

    assert_eq!(err.code, "Source.HttpError");
    assert_eq!(server.ranges().len(), 1);
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 1000);
    assert!(!final_path(root.path(), &t).exists());
}

#[tokio::test]
async fn a_server_error_is_retried_then_reported() {
    let data = random_bytes(1000);
    let server = RangeServer::start(data.clone()).await;
    server.set(|f| f.fail_status = Some(503));
    let root = tempfile::tempdir().unwrap();
    let t = task(&server, &data);
    let err = local_downloader(root.path(), config())
        .run(&t)
        .await
        .unwrap_err();

    assert_eq!(err.code, "Source.HttpError");
    assert!(err.retryable);
    // max_retries = 3: the first attempt and three retries.
    assert_eq!(server.ranges().len(), 4);
    assert!(!final_path(root.path(), &t).exists());
}

#[tokio::test]
async fn cancellation_keeps_the_partial_and_a_rerun_finishes_it() {
    let data = random_bytes(4 * MIB);
    let server = RangeServer::start(data.clone()).await;
    let root = tempfile::tempdir().unwrap();
    let t = task(&server, &data);
    let slow = Tuning {
        bandwidth: MIB as u64,
        ..config()
    };
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let err = local_downloader(root.path(), slow)
        // Cancel at the first report that shows progress.
        .download(&t, &cancel, move |p: &Report| {
            if p.done > 0 {
                stop.cancel();
            }
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, "Transfer.Cancelled");
    let part = part_path(root.path(), &t);
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept > 0 && kept < data.len() as u64, "kept {kept}");
    assert!(!final_path(root.path(), &t).exists());

    let outcome = local_downloader(root.path(), config())
        .run(&t)
        .await
        .unwrap();
    assert_eq!(outcome.resumed_from, kept);
    let written = std::fs::read(final_path(root.path(), &t)).unwrap();
    assert_eq!(sha256_hex(&written), sha256_hex(&data));
    assert!(server.bytes_sent() < 2 * data.len() as u64);
}

#[tokio::test]
async fn the_cli_names_the_file_after_the_url_and_verifies() {
    let data = random_bytes(MIB + 1);
    let server = RangeServer::start(data.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let to = format!("local:{}", dir.path().display());
    let sha = sha256_hex(&data);
    let expected = Checksum::parse_sha256(&sha).unwrap();
    let outcome = run_download_cli(
        &server.url("set%201.xb"),
        &to,
        Some(expected),
        None,
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(outcome.checksum, expected);
    let written = std::fs::read(dir.path().join("set 1.xb")).unwrap();
    assert_eq!(sha256_hex(&written), sha);

    // An explicit file path, and a wrong checksum: nothing at that name.
    let file = dir.path().join("other.bin");
    let to = format!("local:{}", file.display());
    let err = run_download_cli(
        &server.url("x"),
        &to,
        Some(Checksum::Crc64(0)),
        None,
        None,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "Transfer.ChecksumMismatch");
    assert!(!file.exists());

    let err = run_download_cli(&server.url("x"), "tape:/x", None, None, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "Task.UnknownLocation");
}

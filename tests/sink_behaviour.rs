//! One behaviour suite, run through the download pipeline the agent runs
//! (HTTP source → checksum → throttle → sink, with its retries) against
//! every sink: `local`, `nas` (a tmpfs mount), `ftp` (pyftpdlib) and
//! `minio` (s3s-fs). The source is a real HTTP server in the test process
//! that records the `Range` of every request and the bytes it sent, and can
//! drop a connection or corrupt a byte.
//!
//! Each case is one function generic over the sink's fixture
//! (support::fixtures), instantiated for all four by `behaviour_suite!`;
//! where the sinks differ by design (MinIO keeps no partial, FTP and S3
//! report a full disk as a remote error) the fixture says so. The one
//! case not run everywhere: a symbolic link under the root does not exist
//! on an object store (`minio`).
//!
//! "No space": the local root and the NAS share are a tmpfs of 4 MiB; the
//! FTP server's home and the S3 server's data dir are a tmpfs of 4 MiB too
//! (servers of the fixture's own), the closest to a quota these servers
//! have.

mod support;

use std::path::{Path, PathBuf};

use dbs_gateway::api::gateway::DownloadSpec;
use support::files::{content, files_under, sha256, sha256_file};
use support::fixtures::{Ftp, Local, Minio, Nas, SinkFixture};
use support::http_range_server::RangeServer;
use support::sinks::{spec, Failure, Outcome, Pipeline, Tuning};
use tokio_util::sync::CancellationToken;

const MIB: usize = 1024 * 1024;

/// A fresh sink (storage on a tmpfs of `disk` if given), a source serving
/// `len` bytes, and the task for them.
async fn prepare<S: SinkFixture>(
    disk: Option<&str>,
    len: usize,
    seed: u64,
) -> (S, RangeServer, Vec<u8>, DownloadSpec) {
    let sink = S::start(disk);
    let data = content(len, seed);
    let server = RangeServer::start(data.clone()).await;
    let task = spec(
        &server.url("set"),
        S::LOCATION,
        "backups/db1",
        "full.xb",
        &data,
    );
    (sink, server, data, task)
}

fn pipeline<S: SinkFixture>(sink: &S, tuning: Tuning) -> Pipeline {
    Pipeline::new(&sink.section(), tuning)
}

async fn committed<S: SinkFixture>(sink: &S, task: &DownloadSpec) -> Outcome {
    pipeline(sink, Tuning::default())
        .run(task)
        .await
        .unwrap_or_else(|f| panic!("{}: {f:?}", S::LOCATION))
}

async fn failed(pipeline: &Pipeline, task: &DownloadSpec) -> Failure {
    match pipeline.run(task).await {
        Ok(outcome) => panic!("{}: downloaded: {outcome:?}", task.location),
        Err(failure) => failure,
    }
}

/// The set's path under the root: `{dir}/{plan}/full/{name}`.
fn rel(task: &DownloadSpec) -> PathBuf {
    Path::new(&task.dir)
        .join(&task.backup_plan_id)
        .join(task.kind.as_str())
        .join(&task.set_name)
}

fn final_file<S: SinkFixture>(sink: &S, task: &DownloadSpec) -> PathBuf {
    sink.root().join(rel(task))
}

/// The partial (`.dbs-part.{name}`: a file, or MinIO's upload-id marker).
fn partial_file<S: SinkFixture>(sink: &S, task: &DownloadSpec) -> PathBuf {
    final_file(sink, task).with_file_name(format!(".dbs-part.{}", task.set_name))
}

fn assert_nothing_at_the_final_name<S: SinkFixture>(sink: &S, task: &DownloadSpec) {
    let file = final_file(sink, task);
    assert!(
        std::fs::symlink_metadata(&file).is_err(),
        "{}: something at the final name {}",
        S::LOCATION,
        file.display()
    );
}

/// The set arrived whole and alone: its bytes at the final name, no
/// partial, marker or unfinished upload beside it.
fn assert_only_the_set<S: SinkFixture>(sink: &S, task: &DownloadSpec, data: &[u8]) {
    assert_eq!(sha256_file(&final_file(sink, task)), sha256(data));
    assert_eq!(files_under(&sink.root()), vec![rel(task)]);
    assert_eq!(sink.pending(), Vec::<String>::new(), "unfinished uploads");
}

/// The set lands at its final name with the source's bytes and checksum;
/// each byte was fetched once.
async fn write_and_commit<S: SinkFixture>() {
    // More than one 5 MiB part on MinIO, the last one short.
    let (sink, server, data, task) = prepare::<S>(None, 7 * MIB + 17, 1).await;
    let outcome = committed(&sink, &task).await;
    assert_eq!(outcome.crc64, task.crc64);
    assert_eq!(outcome.resumed_from, 0);
    assert_eq!(outcome.attempts, 1);
    assert_eq!(server.bytes_sent(), data.len() as u64);
    assert_only_the_set(&sink, &task, &data);
}

/// A download stopped half-way (the agent's shutdown) leaves nothing at the
/// final name; its partial is kept where the sink documents it (local, NAS,
/// FTP) and the next run resumes from exactly its bytes; MinIO aborts its
/// upload and the next run starts over.
async fn abort_then_run_again<S: SinkFixture>() {
    let (sink, server, data, task) = prepare::<S>(None, 16 * MIB, 2).await;
    let slow = pipeline(
        &sink,
        Tuning {
            bandwidth: 4 * MIB as u64,
            ..Tuning::default()
        },
    );
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    // Past 6 MiB a MinIO upload has its first part stored.
    let stopped = slow
        .download(&task, &cancel, move |report| {
            if report.done >= 6 * MIB as u64 {
                stop.cancel();
            }
        })
        .await
        .expect_err("cancelled");
    assert_eq!(stopped.code, "Transfer.Cancelled", "{stopped:?}");
    assert!(stopped.retryable);
    assert_nothing_at_the_final_name(&sink, &task);
    let partial = partial_file(&sink, &task);
    let kept = if S::KEEPS_PARTIAL {
        let bytes = std::fs::read(&partial).expect("the partial is kept");
        assert!(
            bytes.len() >= 6 * MIB && bytes.len() < data.len(),
            "kept {} bytes",
            bytes.len()
        );
        assert!(
            bytes[..] == data[..bytes.len()],
            "the partial is the set's head"
        );
        bytes.len() as u64
    } else {
        assert!(!partial.exists(), "the upload marker is removed");
        assert_eq!(
            sink.pending(),
            Vec::<String>::new(),
            "the upload is aborted"
        );
        0
    };

    let (sent, asked) = (server.bytes_sent(), server.ranges().len());
    let outcome = committed(&sink, &task).await;
    assert_eq!(outcome.resumed_from, kept);
    let range = server.ranges()[asked].clone();
    let expected_range = (kept > 0).then(|| format!("bytes={kept}-"));
    assert_eq!(
        range, expected_range,
        "the next run asks from the kept bytes"
    );
    assert_eq!(server.bytes_sent() - sent, data.len() as u64 - kept);
    assert_only_the_set(&sink, &task, &data);
}

/// A connection dropped mid-way is resumed with a `Range` from the bytes the
/// sink holds: the second request starts past 0, and only the bytes lost in
/// flight are sent twice.
async fn resume_after_a_dropped_connection<S: SinkFixture>() {
    let (sink, server, data, task) = prepare::<S>(None, 12 * MIB + 5, 3).await;
    // Past the first 5 MiB part on MinIO: the upload continues.
    let cut = 6 * MIB as u64 + 12345;
    server.set(|f| f.drop_after = Some(cut));
    let outcome = committed(&sink, &task).await;
    let ranges = server.ranges();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0], None);
    let from: u64 = ranges[1]
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok())
        .unwrap_or_else(|| panic!("the second request resumes: {ranges:?}"));
    assert!(from > 0 && from <= cut, "resumed from {from}, cut at {cut}");
    assert_eq!(server.bytes_sent(), cut + (data.len() as u64 - from));
    assert!(server.bytes_sent() < 2 * data.len() as u64);
    assert_eq!(outcome.attempts, 2);
    assert_eq!(outcome.downloaded, data.len() as u64);
    assert_eq!(outcome.crc64, task.crc64);
    assert_only_the_set(&sink, &task, &data);
}

/// Corrupt bytes are refused with the checksum code; nothing at the final
/// name and the suspect partial is gone.
async fn checksum_mismatch<S: SinkFixture>() {
    let (sink, server, _data, task) = prepare::<S>(None, 7 * MIB, 4).await;
    server.set(|f| f.corrupt_at = Some(6 * MIB as u64));
    let failure = failed(&pipeline(&sink, Tuning::default()), &task).await;
    assert_eq!(failure.code, "Transfer.ChecksumMismatch", "{failure:?}");
    assert!(!failure.retryable);
    assert_nothing_at_the_final_name(&sink, &task);
    assert_eq!(files_under(&sink.root()), Vec::<PathBuf>::new());
    assert_eq!(sink.pending(), Vec::<String>::new());
}

/// A set larger than the room left fails with the sink's code, leaves
/// nothing at the final name and no unfinished upload; `Target.NoSpace` is
/// found before any byte moves and is not retried. No retries here: the
/// code of the first failure is what this case checks.
async fn no_space<S: SinkFixture>() {
    let (sink, server, _data, task) = prepare::<S>(Some("4m"), 12 * MIB, 5).await;
    let tuning = Tuning {
        max_retries: 0,
        ..Tuning::default()
    };
    let failure = failed(&pipeline(&sink, tuning), &task).await;
    assert_eq!(failure.code, S::NO_SPACE_CODE, "{failure:?}");
    assert_nothing_at_the_final_name(&sink, &task);
    assert_eq!(sink.pending(), Vec::<String>::new());
    if failure.code == "Target.NoSpace" {
        assert!(!failure.retryable);
        assert_eq!(server.bytes_sent(), 0, "refused before writing");
        assert_eq!(files_under(&sink.root()), Vec::<PathBuf>::new());
    }
}

/// Changes one field of a good task.
type Spoil = fn(&mut DownloadSpec);

/// Traversal, absolute paths and the partials' reserved prefix are refused
/// with their codes before any byte moves; nothing is written inside or
/// outside the root.
async fn hostile_paths<S: SinkFixture>() {
    let (sink, server, _data, task) = prepare::<S>(None, 1000, 6).await;
    let outside = sink.root().parent().unwrap().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("victim"), b"precious").unwrap();
    let cases: Vec<(Spoil, &str)> = vec![
        (|t| t.dir = "../outside".into(), "InvalidPath.Traversal"),
        (
            |t| t.dir = "a/../../outside".into(),
            "InvalidPath.Traversal",
        ),
        (|t| t.backup_plan_id = "..".into(), "InvalidPath.Traversal"),
        (
            |t| t.set_name = "../../../../outside/victim".into(),
            "InvalidPath.Traversal",
        ),
        (|t| t.dir = "/tmp".into(), "InvalidPath.Absolute"),
        (|t| t.dir = "\\outside".into(), "InvalidPath.Absolute"),
        (
            |t| t.set_name = ".dbs-part.full.xb".into(),
            "InvalidPath.Reserved",
        ),
        (|t| t.dir = "d/.dbs-part.x".into(), "InvalidPath.Reserved"),
    ];
    let pipeline = pipeline(&sink, Tuning::default());
    for (spoil, code) in cases {
        let mut hostile = task.clone();
        spoil(&mut hostile);
        let failure = failed(&pipeline, &hostile).await;
        assert_eq!(failure.code, code, "{hostile:?}: {failure:?}");
        assert!(!failure.retryable);
    }
    assert_eq!(server.bytes_sent(), 0);
    assert_eq!(files_under(&sink.root()), Vec::<PathBuf>::new());
    assert_eq!(files_under(&outside), vec![PathBuf::from("victim")]);
    assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"precious");
}

/// A directory under the root that is a symbolic link to elsewhere is not
/// written through: the download fails with the sink's code and the
/// directory it points at is untouched.
async fn symlinked_directory<S: SinkFixture>() {
    let code = S::SYMLINK_CODE.expect("a sink with symbolic links");
    let (sink, _server, _data, mut task) = prepare::<S>(None, 5000, 7).await;
    task.dir = "dl".into();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("victim"), b"precious").unwrap();
    std::fs::create_dir_all(sink.root()).unwrap();
    std::os::unix::fs::symlink(outside.path(), sink.root().join("dl")).unwrap();
    let failure = failed(&pipeline(&sink, Tuning::default()), &task).await;
    assert_eq!(failure.code, code, "{failure:?}");
    assert!(!failure.retryable);
    assert_eq!(files_under(outside.path()), vec![PathBuf::from("victim")]);
    assert_eq!(
        std::fs::read(outside.path().join("victim")).unwrap(),
        b"precious"
    );
}

/// Every way a download can fail after bytes moved leaves nothing at the
/// final name: retries run out mid-way (partial kept as documented), an
/// expired URL, a source whose size differs from the task's (partial
/// removed).
async fn failures_leave_nothing_at_the_final_name<S: SinkFixture>() {
    let (sink, server, data, task) = prepare::<S>(None, 12 * MIB, 8).await;
    let no_retry = pipeline(
        &sink,
        Tuning {
            max_retries: 0,
            ..Tuning::default()
        },
    );
    let cut = 6 * MIB as u64 + 1;
    server.set(|f| f.drop_after = Some(cut));
    let failure = failed(&no_retry, &task).await;
    assert_eq!(failure.code, "Source.NetworkError", "{failure:?}");
    assert!(failure.retryable);
    assert_nothing_at_the_final_name(&sink, &task);
    let partial = partial_file(&sink, &task);
    if S::KEEPS_PARTIAL {
        let kept = std::fs::metadata(&partial).expect("partial kept").len();
        assert!(kept > 0 && kept <= cut, "kept {kept}");
    } else {
        assert!(!partial.exists());
    }
    assert_eq!(sink.pending(), Vec::<String>::new());

    server.set(|f| f.fail_status = Some(403));
    let failure = failed(&no_retry, &task).await;
    assert_eq!(failure.code, "Source.HttpError", "{failure:?}");
    assert!(!failure.retryable);
    assert_nothing_at_the_final_name(&sink, &task);
    assert_eq!(partial.exists(), S::KEEPS_PARTIAL, "partial as documented");

    server.set(|f| f.fail_status = None);
    let mut longer = task.clone();
    longer.size = data.len() as u64 + 1;
    let failure = failed(&no_retry, &longer).await;
    assert_eq!(failure.code, "Source.SizeMismatch", "{failure:?}");
    assert!(!failure.retryable);
    assert_nothing_at_the_final_name(&sink, &task);
    assert_eq!(files_under(&sink.root()), Vec::<PathBuf>::new());
    assert_eq!(sink.pending(), Vec::<String>::new());
}

/// Instantiates the named cases for one sink, as `sink::case`.
macro_rules! behaviour_suite {
    ($sink:ident: $fixture:ident; $($case:ident),+ $(,)?) => {
        mod $sink {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case::<super::$fixture>().await
                }
            )+
        }
    };
}

behaviour_suite!(local: Local;
    write_and_commit, abort_then_run_again, resume_after_a_dropped_connection,
    checksum_mismatch, no_space, hostile_paths, symlinked_directory,
    failures_leave_nothing_at_the_final_name);
behaviour_suite!(nas: Nas;
    write_and_commit, abort_then_run_again, resume_after_a_dropped_connection,
    checksum_mismatch, no_space, hostile_paths, symlinked_directory,
    failures_leave_nothing_at_the_final_name);
behaviour_suite!(ftp: Ftp;
    write_and_commit, abort_then_run_again, resume_after_a_dropped_connection,
    checksum_mismatch, no_space, hostile_paths, symlinked_directory,
    failures_leave_nothing_at_the_final_name);
// No symbolic links in an object store: symlinked_directory does not apply.
behaviour_suite!(minio: Minio;
    write_and_commit, abort_then_run_again, resume_after_a_dropped_connection,
    checksum_mismatch, no_space, hostile_paths,
    failures_leave_nothing_at_the_final_name);

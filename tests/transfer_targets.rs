//! The local and NAS targets at their edges: a full disk (a small tmpfs,
//! mounted by the test as root), an unmounted NAS root, a mounted one, and
//! hostile directory and name values. Nothing may appear at a final name.

mod support;

use std::path::Path;

use bytes::Bytes;
use dbs_gateway::transfer::config::{LocalTargetConfig, NasTargetConfig};
use dbs_gateway::transfer::sinks::local::LocalTarget;
use dbs_gateway::transfer::sinks::nas::NasTarget;
use dbs_gateway::transfer::sinks::Target;
use dbs_gateway::transfer::{
    DownloadTask, Downloader, Progress, RelPath, SetKind, TargetsConfig, TransferConfig,
};
use rand::RngCore;
use sha2::{Digest, Sha256};
use support::http_range_server::RangeServer;
use support::tmpfs::Tmpfs;
use tokio_util::sync::CancellationToken;

const MIB: usize = 1024 * 1024;

fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::rng().fill_bytes(&mut data);
    data
}

fn downloader(local: Option<&Path>, nas: Option<&Path>) -> Downloader {
    let targets = TargetsConfig {
        local: local.map(|root| LocalTargetConfig {
            root: root.to_path_buf(),
        }),
        nas: nas.map(|root| NasTargetConfig {
            root: root.to_path_buf(),
        }),
        ..TargetsConfig::default()
    };
    let config = TransferConfig {
        retry_initial_backoff_ms: 10,
        max_retries: 2,
        ..TransferConfig::default()
    };
    Downloader::new(config, &targets).unwrap()
}

fn task(server: &RangeServer, data: &[u8], location: &str) -> DownloadTask {
    DownloadTask {
        url: server.url("set"),
        location: location.into(),
        download_dir: "dl".into(),
        plan_id: "plan1".into(),
        kind: SetKind::Increment,
        set_name: "mysql-bin.000054".into(),
        size: data.len() as u64,
        crc64: {
            let mut crc = crc64fast::Digest::new();
            crc.write(data);
            crc.sum64().to_string()
        },
    }
}

/// Runs `t` with the origin of `control` as the control plane's.
async fn run(
    d: &Downloader,
    t: &DownloadTask,
    control: &str,
) -> Result<(), dbs_gateway::transfer::TransferError> {
    d.run(
        t,
        control,
        Box::new(|_: &Progress| {}),
        &CancellationToken::new(),
    )
    .await
    .map(|_| ())
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
    let err = run(&downloader(Some(disk.path()), None), &t, &t.url)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "Target.NoSpace");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("not enough space"), "{err}");
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
    let target = LocalTarget::new(disk.path());
    let path = RelPath::parse("dir", "a/b.bin").unwrap();
    // Announce a small size so open() succeeds, then write more than fits.
    let mut writer = target.open(&path, 4 * MIB as u64).await.unwrap();
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
    let err = run(&downloader(None, Some(plain_dir.path())), &t, &t.url)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "Target.NotMounted");
    assert!(err.to_string().contains("not a mount point"), "{err}");
    assert_eq!(server.bytes_sent(), 0);
    assert!(files_under(plain_dir.path()).is_empty());

    let target = NasTarget::new(plain_dir.path());
    assert_eq!(
        target.check().await.unwrap_err().code(),
        "Target.NotMounted"
    );
    let path = RelPath::parse("dir", "x").unwrap();
    assert_eq!(
        target.open(&path, 1).await.err().unwrap().code(),
        "Target.NotMounted"
    );
}

#[tokio::test]
async fn a_mounted_nas_root_receives_the_set() {
    let share = Tmpfs::mount("8m");
    let data = random_bytes(3 * MIB);
    let server = RangeServer::start(data.clone()).await;
    let t = task(&server, &data, "nas");
    run(&downloader(None, Some(share.path())), &t, &t.url)
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

/// Changes one field of a good task.
type Spoil = fn(&mut DownloadTask);

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
        (
            |t| t.download_dir = "../outside".into(),
            "InvalidPath.Traversal",
        ),
        (
            |t| t.download_dir = "a/../../outside".into(),
            "InvalidPath.Traversal",
        ),
        (|t| t.download_dir = "/tmp".into(), "InvalidPath.Absolute"),
        (|t| t.download_dir = "".into(), "InvalidPath.Empty"),
        (|t| t.plan_id = "..".into(), "InvalidPath.Traversal"),
        (
            |t| t.set_name = "../../outside/x".into(),
            "InvalidPath.Traversal",
        ),
        (|t| t.set_name = "x\ny".into(), "InvalidPath.BadCharacter"),
        (|t| t.set_name = "..\\x".into(), "InvalidPath.BadCharacter"),
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
        let err = run(&d, &t, &server.url("")).await.unwrap_err();
        assert_eq!(err.code(), code, "{t:?}");
    }
    assert_eq!(server.bytes_sent(), 0);
    assert!(files_under(root.path()).is_empty());
}

#[tokio::test]
async fn one_partial_has_one_writer_at_a_time() {
    let root = tempfile::tempdir().unwrap();
    let target = LocalTarget::new(root.path());
    let path = RelPath::parse("dir", "d/set.bin").unwrap();
    let mut first = target.open(&path, 10).await.unwrap();
    let second = target.open(&path, 10).await.err().unwrap();
    assert_eq!(second.code(), "Target.Unavailable");
    first
        .write(Bytes::from_static(b"0123456789"))
        .await
        .unwrap();
    first.commit().await.unwrap();
    assert_eq!(
        std::fs::read(root.path().join("d/set.bin")).unwrap(),
        b"0123456789"
    );
    assert!(!root.path().join("d/set.bin.part").exists());
}

//! Physical backups of the real MariaDB that scripts/test.sh starts, by the
//! real `mariadb-backup`: the stream is unpacked with `mbstream -x`,
//! prepared, and a MariaDB started on it must give the same `CHECKSUM TABLE`
//! results as the source at backup time.

#[path = "support/discovery_env.rs"]
mod discovery_env;
#[path = "support/mysql_logins.rs"]
mod mysql_logins;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use bytes::Bytes;
use dbs_gateway::backup::physical::{self, find_tool, find_tool_in};
use dbs_gateway::discovery::Login;
use discovery_env::env_port;
use mysql_async::prelude::Queryable;
use mysql_logins::{admin_login, admin_opts, login};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

async fn admin(port: u16) -> mysql_async::Conn {
    mysql_async::Conn::new(admin_opts(port))
        .await
        .expect("admin login")
}

async fn checksums(conn: &mut mysql_async::Conn, tables: &[&str]) -> Vec<Option<u64>> {
    let mut sums = Vec::new();
    for table in tables {
        let row: Option<(String, Option<u64>)> = conn
            .query_first(format!("CHECKSUM TABLE {table}"))
            .await
            .expect("checksum");
        sums.push(row.and_then(|(_, s)| s));
    }
    sums
}

/// Runs a physical backup into `file`; the bytes the backup says it sent.
async fn backup_to(login: &Login, work: &Path, file: &Path) -> Result<u64, String> {
    let tool = find_tool().await.map_err(|e| e.to_string())?;
    let (tx, mut rx) = mpsc::channel::<Bytes>(4);
    let mut out = tokio::fs::File::create(file).await.expect("create");
    let writer = tokio::spawn(async move {
        while let Some(chunk) = rx.recv().await {
            out.write_all(&chunk).await.expect("write");
        }
        out.flush().await.expect("flush");
    });
    let result = physical::backup(login, &tool, work, tx).await;
    writer.await.expect("writer");
    result.map_err(|e| format!("{}: {e}", e.code()))
}

fn run(program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A MariaDB on `datadir`, stopped on drop.
struct Server(std::process::Child);

impl Server {
    async fn start(datadir: &Path) -> (Server, u16) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let user = String::from_utf8(
            std::process::Command::new("id")
                .arg("-un")
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let child = std::process::Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--user={}", user.trim()))
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--socket={}/restored.sock", datadir.display()))
            .arg(format!("--port={port}"))
            .args(["--bind-address=127.0.0.1", "--skip-name-resolve"])
            .arg("--innodb-buffer-pool-size=32M")
            .arg(format!("--log-error={}/restored.err", datadir.display()))
            .stdout(Stdio::null())
            .spawn()
            .expect("mariadbd");
        let server = Server(child);
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (server, port);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "the restored MariaDB did not start: {}",
            std::fs::read_to_string(datadir.join("restored.err")).unwrap_or_default()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_prepared_physical_backup_starts_a_server_with_equal_checksums() {
    let mut src = admin(env_port("DBS_TEST_MYSQL_PORT")).await;
    for statement in [
        "DROP DATABASE IF EXISTS pb_data",
        "CREATE DATABASE pb_data",
        "CREATE TABLE pb_data.orders (id INT PRIMARY KEY, note VARCHAR(100), amount DECIMAL(12,2)) ENGINE=InnoDB",
        "INSERT INTO pb_data.orders SELECT seq, CONCAT('order ', seq), seq * 1.25 FROM pb_data.seq_1_to_20000",
        "CREATE TABLE pb_data.notes (id INT PRIMARY KEY, body TEXT) ENGINE=Aria",
        "INSERT INTO pb_data.notes SELECT seq, REPEAT('n', seq % 300) FROM pb_data.seq_1_to_3000",
    ] {
        src.query_drop(statement).await.expect(statement);
    }
    let tables = ["pb_data.orders", "pb_data.notes"];
    let want = checksums(&mut src, &tables).await;
    assert!(want.iter().all(Option::is_some), "{want:?}");

    let work = tempfile::tempdir().expect("tempdir");
    let stream = work.path().join("set.xb");
    let sent = backup_to(&admin_login(), work.path(), &stream)
        .await
        .expect("physical backup");
    assert_eq!(sent, std::fs::metadata(&stream).unwrap().len());
    let leftovers: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "set.xb")
        .collect();
    assert!(leftovers.is_empty(), "scratch left behind: {leftovers:?}");

    let datadir = work.path().join("restored");
    std::fs::create_dir(&datadir).unwrap();
    let unpack = std::process::Command::new("mbstream")
        .args(["-x", "-C"])
        .arg(&datadir)
        .stdin(std::fs::File::open(&stream).unwrap())
        .status()
        .expect("mbstream");
    assert!(unpack.success(), "mbstream -x refused the stream");
    run(
        "mariadb-backup",
        &["--prepare", &format!("--target-dir={}", datadir.display())],
    );
    std::fs::set_permissions(&datadir, std::fs::Permissions::from_mode(0o750)).unwrap();
    let (_server, port) = Server::start(&datadir).await;
    let mut restored = admin(port).await;
    assert_eq!(checksums(&mut restored, &tables).await, want);
}

#[tokio::test]
async fn a_user_without_backup_privileges_fails_with_the_tools_reason() {
    let mut conn = admin(env_port("DBS_TEST_MYSQL_PORT")).await;
    for statement in [
        "DROP USER IF EXISTS 'pb_weak'@'127.0.0.1'",
        "CREATE USER 'pb_weak'@'127.0.0.1' IDENTIFIED BY 'weak-pw-2'",
        "GRANT SELECT ON *.* TO 'pb_weak'@'127.0.0.1'",
    ] {
        conn.query_drop(statement).await.expect(statement);
    }
    let work = tempfile::tempdir().expect("tempdir");
    let err = backup_to(
        &login("pb_weak", "weak-pw-2"),
        work.path(),
        &work.path().join("set.xb"),
    )
    .await
    .expect_err("a SELECT-only user cannot take a physical backup");
    assert!(err.starts_with("Backup.ToolFailed"), "{err}");
    assert!(
        !err.contains("weak-pw-2"),
        "the password reached the message"
    );
}

#[tokio::test]
async fn a_missing_tool_and_a_tool_of_another_version_are_refused() {
    let empty = tempfile::tempdir().expect("tempdir");
    let err = find_tool_in(empty.path().as_os_str()).await.unwrap_err();
    assert_eq!(err.code(), "Backup.ToolMissing");

    // A mariadb-backup of another release: only its banner matters here.
    let fake = empty.path().join("mariadb-backup");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'mariadb-backup based on MariaDB server 10.5.99-MariaDB Linux'\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tool = find_tool_in(empty.path().as_os_str()).await.expect("found");
    assert_eq!(tool.version, "10.5.99");
    let err = physical::check_versions(&admin_login(), &tool)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "Backup.ToolVersionMismatch");
}

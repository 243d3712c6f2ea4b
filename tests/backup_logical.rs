//! Logical backups of the real MariaDB that scripts/test.sh starts: the SQL
//! is loaded with the `mariadb` client into the second, empty server (the
//! TLS one), and every table's `CHECKSUM TABLE` must equal the source's.

#[path = "support/discovery_env.rs"]
mod discovery_env;
#[path = "support/mysql_logins.rs"]
mod mysql_logins;

use std::process::Stdio;

use bytes::Bytes;
use dbs_gateway::api::backup_objects::{self, BackupObject};
use dbs_gateway::backup::logical::{self, LogicalOptions, LogicalSummary, COMPLETE_MARKER};
use dbs_gateway::backup::BackupError;
use dbs_gateway::discovery::Login;
use discovery_env::{env, env_port};
use mysql_async::prelude::Queryable;
use mysql_logins::{admin_login, admin_opts, login};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// The source server.
async fn source() -> mysql_async::Conn {
    mysql_async::Conn::new(admin_opts(env_port("DBS_TEST_MYSQL_PORT")))
        .await
        .expect("source login")
}

/// The empty server the backups are loaded into.
async fn target() -> mysql_async::Conn {
    // Another test of this process may have installed it first.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let ssl = mysql_async::SslOpts::default().with_root_certs(vec![std::path::PathBuf::from(env(
        "DBS_TEST_MYSQL_TLS_CA_FILE",
    ))
    .into()]);
    let opts = admin_opts(env_port("DBS_TEST_MYSQL_TLS_PORT")).ssl_opts(Some(ssl));
    mysql_async::Conn::new(opts).await.expect("target login")
}

/// Runs a backup and collects its stream.
async fn take(
    login: &Login,
    objects: &[BackupObject],
    options: &LogicalOptions,
) -> (Result<LogicalSummary, BackupError>, String) {
    let (tx, mut rx) = mpsc::channel::<Bytes>(4);
    let collect = tokio::spawn(async move {
        let mut sql = Vec::new();
        while let Some(chunk) = rx.recv().await {
            sql.extend_from_slice(&chunk);
        }
        String::from_utf8(sql).expect("utf-8 SQL")
    });
    let result = logical::backup(login, objects, options, tx).await;
    (result, collect.await.expect("collector"))
}

/// Loads `sql` into the target server with the `mariadb` client.
async fn load(sql: &str) {
    let mut child = tokio::process::Command::new("mariadb")
        .args([
            "--no-defaults",
            "--batch",
            &format!("--host={}", env("DBS_TEST_MYSQL_HOST")),
            &format!("--port={}", env("DBS_TEST_MYSQL_TLS_PORT")),
            &format!("--user={}", env("DBS_TEST_MYSQL_ADMIN_USER")),
            &format!("--ssl-ca={}", env("DBS_TEST_MYSQL_TLS_CA_FILE")),
        ])
        .env("MYSQL_PWD", env("DBS_TEST_MYSQL_ADMIN_PASSWORD"))
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mariadb client");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(sql.as_bytes()).await.expect("write SQL");
    drop(stdin);
    let done = child.wait_with_output().await.expect("mariadb");
    assert!(
        done.status.success(),
        "mariadb refused the backup: {}",
        String::from_utf8_lossy(&done.stderr)
    );
}

async fn checksum(conn: &mut mysql_async::Conn, table: &str) -> Option<u64> {
    let row: Option<(String, Option<u64>)> = conn
        .query_first(format!("CHECKSUM TABLE {table}"))
        .await
        .expect("checksum");
    row.and_then(|(_, sum)| sum)
}

/// Two databases with awkward values, a generated column, many rows and a
/// view; their names carry `tag` so tests do not meet.
async fn make_databases(tag: &str) -> (String, String) {
    let (a, b) = (format!("lb_{tag}_a"), format!("lb_{tag}_b"));
    let mut conn = source().await;
    for db in [&a, &b] {
        conn.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
            .await
            .unwrap();
        conn.query_drop(format!("CREATE DATABASE {db} CHARACTER SET utf8mb4"))
            .await
            .unwrap();
    }
    conn.query_drop(format!(
        "CREATE TABLE {a}.odd (id INT AUTO_INCREMENT PRIMARY KEY, s VARCHAR(200), \
         b BLOB, d DECIMAL(20,6), f DOUBLE, t DATETIME(6), bits BIT(5), j JSON, \
         doubled INT AS (id * 2) VIRTUAL, e ENUM('x','y'), n INT NULL, fl FLOAT, dt DATE, \
         tm TIME(6), ts TIMESTAMP(3) NULL, yr YEAR, big BIGINT UNSIGNED, tiny TINYINT) ENGINE=InnoDB"
    ))
    .await
    .unwrap();
    conn.exec_drop(
        format!(
            "INSERT INTO {a}.odd (s, b, d, f, t, bits, j, e, n, fl, dt, tm, ts, yr, big, tiny) \
                 VALUES (?, ?, ?, ?, ?, b'10101', ?, 'y', NULL, 0.1, '2026-11-27', '-838:59:59.5', \
                 '2026-11-27 18:00:00.125', 2026, 18446744073709551615, -128)"
        ),
        (
            "it's a \\ back\nslash\r\0 and é✓ 🙂 \x1a",
            vec![0u8, 1, 2, 0x27, 0x5c, 0xff, 0x1a],
            "-12345678901234.123456",
            0.1f64 + 0.2f64,
            "2026-11-27 18:00:00.123456",
            r#"{"k": [1, "two", null]}"#,
        ),
    )
    .await
    .unwrap();
    // A zero date needs a mode that allows it (the backup's header sets one).
    conn.query_drop("SET SESSION sql_mode = ''").await.unwrap();
    conn.query_drop(format!(
        "INSERT INTO {a}.odd (s, b, d, f, t, bits, j, e, n, fl, dt, tm, ts, yr, big, tiny) \
         VALUES ('', '', 0, -1e300, NULL, b'0', NULL, 'x', 7, -3.4e38, '0000-00-00', '00:00:00', NULL, 0, 0, 127)"
    ))
    .await
    .unwrap();
    conn.query_drop(format!(
        "CREATE TABLE {a}.many (id INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB"
    ))
    .await
    .unwrap();
    conn.query_drop(format!(
        "INSERT INTO {a}.many SELECT seq, CONCAT('row ', seq, REPEAT('x', seq % 50)) FROM {a}.seq_1_to_5000"
    ))
    .await
    .unwrap();
    conn.query_drop(format!(
        "CREATE VIEW {a}.small AS SELECT id, v FROM {a}.many WHERE id < 10"
    ))
    .await
    .unwrap();
    conn.query_drop(format!(
        "CREATE TABLE {b}.other (k VARBINARY(16) PRIMARY KEY, v TEXT) ENGINE=InnoDB"
    ))
    .await
    .unwrap();
    conn.query_drop(format!(
        "INSERT INTO {b}.other VALUES (0x00, 'zero'), (0xFFFF, 'ffff')"
    ))
    .await
    .unwrap();
    (a, b)
}

async fn drop_on_target(dbs: &[&str]) {
    let mut conn = target().await;
    for db in dbs {
        conn.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
            .await
            .unwrap();
    }
}

fn objects(json: &str) -> Vec<BackupObject> {
    backup_objects::parse(json).expect("BackupObjects")
}

#[tokio::test]
async fn a_logical_backup_loaded_into_an_empty_server_has_equal_checksums() {
    let (a, b) = make_databases("whole").await;
    let empty = "lb_whole_empty";
    source()
        .await
        .query_drop(format!("CREATE DATABASE IF NOT EXISTS {empty}"))
        .await
        .unwrap();
    drop_on_target(&[&a, &b, empty]).await;
    let options = LogicalOptions {
        threads: 3,
        // Small statements: the 5000 rows take many.
        statement_bytes: 4096,
    };
    let (summary, sql) = take(
        &admin_login(),
        &objects(&format!(
            r#"[{{"DBName":"{a}"}},{{"DBName":"{b}"}},{{"DBName":"{empty}"}}]"#
        )),
        &options,
    )
    .await;
    let summary = summary.expect("backup");
    assert_eq!(summary.databases, 3);
    assert_eq!(summary.tables, 3);
    assert_eq!(summary.rows, 2 + 5000 + 2);
    assert_eq!(summary.bytes, sql.len() as u64);
    assert!(sql.trim_end().ends_with(COMPLETE_MARKER), "no trailer");
    assert!(
        sql.matches(&format!("INSERT INTO `{a}`.`many`")).count() > 10,
        "rows not cut into statements"
    );
    assert!(
        !sql.contains("`doubled`) VALUES"),
        "generated column written"
    );

    load(&sql).await;
    let (mut src, mut dst) = (source().await, target().await);
    for table in [
        format!("{a}.odd"),
        format!("{a}.many"),
        format!("{b}.other"),
    ] {
        let want = checksum(&mut src, &table).await;
        assert!(want.is_some(), "{table}: no checksum at the source");
        assert_eq!(checksum(&mut dst, &table).await, want, "{table}");
    }
    let restored: Option<String> = dst
        .query_first(format!("SHOW DATABASES LIKE '{empty}'"))
        .await
        .unwrap();
    assert_eq!(
        restored.as_deref(),
        Some(empty),
        "an empty database was left out"
    );
    let view: Vec<u32> = dst
        .query(format!("SELECT id FROM {a}.small ORDER BY id"))
        .await
        .expect("the view was restored");
    assert_eq!(view, (1..10).collect::<Vec<_>>());
    let doubled: Vec<i64> = dst
        .query(format!("SELECT doubled FROM {a}.odd ORDER BY id"))
        .await
        .unwrap();
    assert_eq!(doubled, vec![2, 4]);
}

#[tokio::test]
async fn timestamps_are_written_in_utc_whatever_the_servers_time_zone() {
    let db = "lb_time_zone";
    let mut conn = source().await;
    for statement in [
        format!("DROP DATABASE IF EXISTS {db}"),
        format!("CREATE DATABASE {db}"),
        format!("CREATE TABLE {db}.t (id INT PRIMARY KEY, ts TIMESTAMP NULL)"),
        "SET time_zone = '+00:00'".into(),
        format!("INSERT INTO {db}.t VALUES (1, '2026-01-01 00:00:00')"),
    ] {
        conn.query_drop(statement).await.unwrap();
    }
    let zone: String = conn
        .query_first("SELECT @@GLOBAL.time_zone")
        .await
        .unwrap()
        .unwrap();
    // New sessions (the backup's readers) start five hours ahead of UTC.
    conn.query_drop("SET GLOBAL time_zone = '+05:00'")
        .await
        .unwrap();
    let (summary, sql) = take(
        &admin_login(),
        &objects(&format!(r#"[{{"DBName":"{db}"}}]"#)),
        &LogicalOptions::default(),
    )
    .await;
    conn.exec_drop("SET GLOBAL time_zone = ?", (zone,))
        .await
        .unwrap();
    summary.expect("backup");
    assert!(sql.contains("TIME_ZONE='+00:00'"), "{sql}");
    assert!(sql.contains("(1,'2026-01-01 00:00:00')"), "{sql}");
}

#[tokio::test]
async fn backup_objects_limit_what_is_taken() {
    let (a, b) = make_databases("objects").await;
    let (summary, sql) = take(
        &admin_login(),
        &objects(&format!(
            r#"[{{"DBName":"{a}","TableIncludes":[{{"TableName":"odd"}}]}}]"#
        )),
        &LogicalOptions::default(),
    )
    .await;
    let summary = summary.expect("backup");
    assert_eq!((summary.databases, summary.tables, summary.rows), (1, 1, 2));
    assert!(sql.contains("CREATE TABLE `odd`"), "{sql}");
    assert!(!sql.contains("`many`"), "an excluded table was taken");
    assert!(!sql.contains(&b), "an unnamed database was taken");

    let (summary, sql) = take(
        &admin_login(),
        &objects(&format!(
            r#"[{{"DBName":"{a}","TableExcludes":[{{"TableName":"many"}},{{"TableName":"small"}}]}}]"#
        )),
        &LogicalOptions::default(),
    )
    .await;
    assert_eq!(summary.expect("backup").tables, 1);
    assert!(!sql.contains("`many`") && !sql.contains("`small`"));
}

#[tokio::test]
async fn the_snapshot_is_consistent_across_tables_read_at_once() {
    let db = "lb_consistent";
    let mut conn = source().await;
    conn.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .unwrap();
    conn.query_drop(format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    for t in ["giver", "taker"] {
        conn.query_drop(format!(
            "CREATE TABLE {db}.{t} (id INT PRIMARY KEY, amount BIGINT) ENGINE=InnoDB"
        ))
        .await
        .unwrap();
    }
    conn.query_drop(format!(
        "INSERT INTO {db}.giver SELECT seq, 1000 FROM {db}.seq_1_to_2000"
    ))
    .await
    .unwrap();
    conn.query_drop(format!(
        "INSERT INTO {db}.taker SELECT seq, 0 FROM {db}.seq_1_to_2000"
    ))
    .await
    .unwrap();
    // Moves amounts from one table to the other, one transaction each,
    // for as long as the backup runs: the sum over both never changes.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mover = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut moves = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = moves % 2000 + 1;
                let mut tx = conn
                    .start_transaction(mysql_async::TxOpts::default())
                    .await
                    .unwrap();
                tx.query_drop(format!(
                    "UPDATE {db}.giver SET amount = amount - 1 WHERE id = {id}"
                ))
                .await
                .unwrap();
                tx.query_drop(format!(
                    "UPDATE {db}.taker SET amount = amount + 1 WHERE id = {id}"
                ))
                .await
                .unwrap();
                tx.commit().await.unwrap();
                moves += 1;
            }
            moves
        }
    });
    let options = LogicalOptions {
        threads: 2,
        statement_bytes: 1024,
    };
    let mut sums = Vec::new();
    for _ in 0..3 {
        let (summary, sql) = take(
            &admin_login(),
            &objects(&format!(r#"[{{"DBName":"{db}"}}]"#)),
            &options,
        )
        .await;
        summary.expect("backup");
        sums.push(sum_of_amounts(&sql));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(mover.await.unwrap() > 0, "no concurrent writes happened");
    assert_eq!(sums, vec![2_000_000; 3]);
}

/// The sum of the `amount` column over every inserted row.
fn sum_of_amounts(sql: &str) -> i64 {
    sql.lines()
        .filter(|l| l.starts_with('('))
        .map(|l| {
            let inner = l.trim_end_matches([';', ',']).trim_matches(['(', ')']);
            inner.split(',').nth(1).unwrap().parse::<i64>().unwrap()
        })
        .sum()
}

#[tokio::test]
async fn a_user_without_reload_is_refused_with_its_code() {
    let mut conn = source().await;
    conn.query_drop("DROP USER IF EXISTS 'lb_weak'@'127.0.0.1'")
        .await
        .unwrap();
    conn.query_drop("CREATE USER 'lb_weak'@'127.0.0.1' IDENTIFIED BY 'weak-pw-1'")
        .await
        .unwrap();
    conn.query_drop("GRANT SELECT ON *.* TO 'lb_weak'@'127.0.0.1'")
        .await
        .unwrap();
    let (result, _) = take(
        &login("lb_weak", "weak-pw-1"),
        &[],
        &LogicalOptions::default(),
    )
    .await;
    let err = result.expect_err("FLUSH TABLES WITH READ LOCK needs RELOAD");
    assert_eq!(err.code(), "Backup.AccessDenied");
    assert!(err.to_string().contains("RELOAD"), "{err}");
}

#[tokio::test]
async fn a_database_the_server_does_not_have_is_refused() {
    let (result, sql) = take(
        &admin_login(),
        &objects(r#"[{"DBName":"lb_no_such_db"}]"#),
        &LogicalOptions::default(),
    )
    .await;
    let err = result.expect_err("missing database");
    assert_eq!(err.code(), "Backup.ObjectNotFound");
    assert!(err.to_string().contains("lb_no_such_db"), "{err}");
    assert!(sql.is_empty(), "bytes were sent for a refused backup");
}

#[tokio::test]
async fn the_binlog_position_of_the_snapshot_is_recorded() {
    let (summary, sql) = take(
        &admin_login(),
        &objects(r#"[{"DBName":"mysql","TableIncludes":[{"TableName":"db"}]}]"#),
        &LogicalOptions::default(),
    )
    .await;
    let binlog = summary.expect("backup").binlog.expect("binlog is on");
    assert!(!binlog.file.is_empty() && binlog.position > 0, "{binlog:?}");
    assert!(
        sql.contains(&format!(
            "-- binlog file {} position {}",
            binlog.file, binlog.position
        )),
        "position not in the header"
    );
}

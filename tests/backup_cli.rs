//! `dbs-gateway backup` and `precheck` against the real MariaDB that
//! scripts/test.sh starts: the login from gateway.toml's `[[databases]]`, the
//! set stored in `[targets.local]` with its CRC64 printed, a failed backup
//! leaving nothing behind, and the pre-check items with their codes.

#[path = "support/discovery_env.rs"]
mod discovery_env;
#[path = "support/mysql_logins.rs"]
mod mysql_logins;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dbs_gateway::backup::logical::COMPLETE_MARKER;
use discovery_env::{env, env_port};
use mysql_async::prelude::Queryable;
use mysql_logins::admin_opts;

/// A gateway.toml whose one database entry logs in as `user`, and whose
/// local target is `dir/sets`.
fn config_file(dir: &Path, user: &str, password: &str) -> PathBuf {
    let path = dir.join("gateway.toml");
    std::fs::create_dir_all(dir.join("sets")).unwrap();
    std::fs::write(
        &path,
        format!(
            "[gateway]\nstate_dir = \"{state}\"\n\n\
             [control]\nendpoint = \"http://127.0.0.1:9\"\n\
             access_key_id = \"unused-here\"\naccess_key_secret = \"unused-here\"\n\n\
             [targets.local]\nroot = \"{sets}\"\n\n\
             [[databases]]\ntype = \"mysql\"\nhost = \"{host}\"\nport = {port}\n\
             user = \"{user}\"\npassword = \"{password}\"\n",
            state = dir.join("state").display(),
            sets = dir.join("sets").display(),
            host = env("DBS_TEST_MYSQL_HOST"),
            port = env_port("DBS_TEST_MYSQL_PORT"),
        ),
    )
    .unwrap();
    path
}

fn backup(config: &Path, args: &[&str]) -> Output {
    gateway("backup", config, args)
}

/// `dbs-gateway COMMAND --config CONFIG --host … --port … ARGS`.
fn gateway(command: &str, config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbs-gateway"))
        .arg(command)
        .arg("--config")
        .arg(config)
        .args(["--host", &env("DBS_TEST_MYSQL_HOST")])
        .args(["--port", &env("DBS_TEST_MYSQL_PORT")])
        .args(args)
        .output()
        .expect("dbs-gateway")
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            if entry.path().is_dir() {
                dirs.push(entry.path());
            } else {
                found.push(
                    entry
                        .path()
                        .strip_prefix(dir)
                        .unwrap()
                        .display()
                        .to_string(),
                );
            }
        }
    }
    found.sort();
    found
}

fn crc64_of(path: &Path) -> String {
    let mut digest = crc64fast::Digest::new();
    digest.write(&std::fs::read(path).unwrap());
    format!("crc64ecma:{}", digest.sum64())
}

async fn make_database() {
    let mut conn = mysql_async::Conn::new(admin_opts(env_port("DBS_TEST_MYSQL_PORT")))
        .await
        .unwrap();
    for statement in [
        "DROP DATABASE IF EXISTS bc_shop",
        "CREATE DATABASE bc_shop",
        "CREATE TABLE bc_shop.items (id INT PRIMARY KEY, name VARCHAR(40)) ENGINE=InnoDB",
        "INSERT INTO bc_shop.items SELECT seq, CONCAT('item ', seq) FROM bc_shop.seq_1_to_1000",
    ] {
        conn.query_drop(statement).await.expect(statement);
    }
}

#[tokio::test]
async fn logical_and_physical_backups_land_in_the_target_with_their_crc64() {
    make_database().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        &env("DBS_TEST_MYSQL_ADMIN_USER"),
        &env("DBS_TEST_MYSQL_ADMIN_PASSWORD"),
    );
    let out = backup(
        &config,
        &[
            "--method",
            "logical",
            "--objects",
            r#"[{"DBName":"bc_shop"}]"#,
            "--to",
            "local:nightly/shop",
            "--name",
            "shop.sql",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set = dir.path().join("sets/nightly/shop/shop.sql");
    let sql = std::fs::read_to_string(&set).expect("the set at its final name");
    assert!(sql.trim_end().ends_with(COMPLETE_MARKER));
    assert!(sql.contains("INSERT INTO `bc_shop`.`items`"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with(&crc64_of(&set)), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 databases, 1 tables, 1000 rows"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = backup(
        &config,
        &["--method", "physical", "--to", "local", "--name", "full.xb"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set = dir.path().join("sets/full.xb");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&crc64_of(&set)));
    let listed = Command::new("mbstream")
        .args(["-x", "-C"])
        .arg(tempfile::tempdir().unwrap().path())
        .stdin(std::fs::File::open(&set).unwrap())
        .status()
        .unwrap();
    assert!(listed.success(), "the stored set is not a whole xbstream");
    assert_eq!(
        files_under(&dir.path().join("sets")),
        vec!["full.xb", "nightly/shop/shop.sql"]
    );
    assert!(
        files_under(&dir.path().join("state")).is_empty(),
        "the tool's scratch dir (with its password file) was left"
    );
}

#[tokio::test]
async fn a_failed_backup_exits_with_its_code_and_leaves_nothing() {
    let mut conn = mysql_async::Conn::new(admin_opts(env_port("DBS_TEST_MYSQL_PORT")))
        .await
        .unwrap();
    for statement in [
        "DROP USER IF EXISTS 'bc_weak'@'127.0.0.1'",
        "CREATE USER 'bc_weak'@'127.0.0.1' IDENTIFIED BY 'weak-pw-4'",
        "GRANT SELECT ON *.* TO 'bc_weak'@'127.0.0.1'",
    ] {
        conn.query_drop(statement).await.expect(statement);
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), "bc_weak", "weak-pw-4");
    for (method, code) in [
        ("logical", "Backup.AccessDenied"),
        ("physical", "Backup.ToolFailed"),
    ] {
        let out = backup(
            &config,
            &["--method", method, "--to", "local", "--name", "x"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{method}: a weak user's backup succeeded"
        );
        assert!(stderr.contains(code), "{method}: {stderr}");
        assert!(
            !stderr.contains("weak-pw-4"),
            "{method}: the password reached stderr"
        );
        assert_eq!(
            files_under(&dir.path().join("sets")),
            Vec::<String>::new(),
            "{method}: a failed backup left a file"
        );
    }
    let out = backup(&config, &["--method", "logical", "--to", "s3"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [targets.s3]"));
    for (to, name, code) in [
        ("local:../up", "x.sql", "InvalidPath.Traversal"),
        ("local", ".dbs-part.x", "InvalidPath.Reserved"),
    ] {
        let out = backup(
            &config,
            &["--method", "logical", "--to", to, "--name", name],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(code),
            "{to} {name}: {stderr}"
        );
    }
    assert!(files_under(dir.path())
        .iter()
        .all(|f| !f.contains("x.sql") && !f.contains("dbs-part")));
}

#[tokio::test]
async fn precheck_prints_every_item_and_fails_on_a_missing_privilege() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        &env("DBS_TEST_MYSQL_ADMIN_USER"),
        &env("DBS_TEST_MYSQL_ADMIN_PASSWORD"),
    );
    let out = gateway("precheck", &config, &["--method", "physical"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for item in ["Connectivity", "Privileges", "BackupTool", "DataDirectory"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(item) && l.contains(" ok ")),
            "{item}: {stdout}"
        );
    }

    let mut conn = mysql_async::Conn::new(admin_opts(env_port("DBS_TEST_MYSQL_PORT")))
        .await
        .unwrap();
    for statement in [
        "DROP USER IF EXISTS 'bc_select'@'127.0.0.1'",
        "CREATE USER 'bc_select'@'127.0.0.1' IDENTIFIED BY 'select-pw-5'",
        "GRANT SELECT ON *.* TO 'bc_select'@'127.0.0.1'",
    ] {
        conn.query_drop(statement).await.expect(statement);
    }
    let config = config_file(dir.path(), "bc_select", "select-pw-5");
    let out = gateway("precheck", &config, &["--method", "logical"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let privileges = stdout
        .lines()
        .find(|l| l.starts_with("Privileges"))
        .unwrap_or_else(|| panic!("no Privileges line: {stdout}"));
    assert!(privileges.contains("Backup.AccessDenied"), "{privileges}");
    assert!(privileges.contains("RELOAD"), "{privileges}");
}

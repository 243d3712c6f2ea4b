//! `dbs-gateway list-dbs` against the real MariaDB and Redis that
//! scripts/test.sh starts: credentials from the config file, a table or JSON,
//! and a failure's code on stderr with a non-zero exit.

#[path = "support/discovery_env.rs"]
mod discovery_env;

use std::process::Command;

use discovery_env::{env, env_port};
use mysql_async::prelude::Queryable;

fn config_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("gateway.toml");
    std::fs::write(dir.join("mysql.pw"), "cli-pw\n").expect("password file");
    std::fs::write(
        &path,
        format!(
            "[gateway]\n\
             state_dir = \"{state}\"\n\
             \n\
             [control]\n\
             endpoint = \"http://127.0.0.1:9\"\n\
             access_key_id = \"unused-here\"\n\
             access_key_secret = \"unused-here\"\n\
             \n\
             [[databases]]\n\
             type = \"mysql\"\n\
             host = \"{host}\"\n\
             port = {port}\n\
             user = \"disc_cli\"\n\
             password_file = \"{pw}\"\n\
             \n\
             [[databases]]\n\
             type = \"redis\"\n\
             host = \"{host}\"\n\
             port = {redis_port}\n\
             user = \"{redis_user}\"\n\
             password = \"{redis_pw}\"\n",
            state = dir.join("state").display(),
            host = env("DBS_TEST_MYSQL_HOST"),
            port = env_port("DBS_TEST_MYSQL_PORT"),
            pw = dir.join("mysql.pw").display(),
            redis_port = env_port("DBS_TEST_REDIS_PORT"),
            redis_user = env("DBS_TEST_REDIS_ACL_USER"),
            redis_pw = env("DBS_TEST_REDIS_ACL_PASSWORD"),
        ),
    )
    .expect("config");
    path
}

async fn prepare_mysql() {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(env("DBS_TEST_MYSQL_HOST"))
        .tcp_port(env_port("DBS_TEST_MYSQL_PORT"))
        .user(Some(env("DBS_TEST_MYSQL_ADMIN_USER")))
        .pass(Some(env("DBS_TEST_MYSQL_ADMIN_PASSWORD")))
        .prefer_socket(false);
    let mut conn = mysql_async::Conn::new(opts).await.expect("admin login");
    for sql in [
        "DROP USER IF EXISTS 'disc_cli'@'127.0.0.1'",
        "CREATE DATABASE IF NOT EXISTS disc_cli_a",
        "CREATE DATABASE IF NOT EXISTS disc_cli_b",
        "CREATE TABLE IF NOT EXISTS disc_cli_b.t (id INT)",
        "CREATE USER 'disc_cli'@'127.0.0.1' IDENTIFIED BY 'cli-pw'",
        "GRANT SELECT ON `disc\\_cli\\_%`.* TO 'disc_cli'@'127.0.0.1'",
    ] {
        conn.query_drop(sql).await.expect(sql);
    }
    conn.disconnect().await.expect("disconnect");
}

fn list_dbs(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dbs-gateway"))
        .arg("list-dbs")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run dbs-gateway")
}

#[tokio::test]
async fn list_dbs_prints_json_and_a_table_and_fails_with_a_code() {
    prepare_mysql().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_file(dir.path());
    let mysql_port = env_port("DBS_TEST_MYSQL_PORT").to_string();

    let out = list_dbs(
        &config,
        &[
            "--type",
            "MySQL",
            "--host",
            "127.0.0.1",
            "--port",
            &mysql_port,
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["Databases"][0]["Name"], "disc_cli_a");
    assert_eq!(json["Databases"][0]["Tables"], 0);
    assert_eq!(json["Databases"][1]["Name"], "disc_cli_b");
    assert_eq!(json["Databases"][1]["Tables"], 1);
    assert_eq!(json["Databases"].as_array().map(Vec::len), Some(2));

    let out = list_dbs(
        &config,
        &[
            "--type",
            "mysql",
            "--host",
            "127.0.0.1",
            "--port",
            &mysql_port,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.contains("disc_cli_b"), "{table}");
    assert!(table.ends_with("2 databases\n"), "{table}");

    let redis_port = env_port("DBS_TEST_REDIS_PORT").to_string();
    let out = list_dbs(
        &config,
        &[
            "--type",
            "redis",
            "--host",
            "127.0.0.1",
            "--port",
            &redis_port,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Whatever its keyspace holds now, the ACL login from the file worked.
    assert!(String::from_utf8_lossy(&out.stdout).contains(" database"));

    let out = list_dbs(&config, &["--type", "mssql", "--host", "10.9.9.9"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("EndpointNotConfigured"), "{stderr}");
    assert!(stderr.contains("10.9.9.9:1433"), "{stderr}");
    assert!(stderr.contains(&config.display().to_string()), "{stderr}");
}

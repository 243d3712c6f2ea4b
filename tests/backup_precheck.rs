//! The pre-checks of a backup plan against the real MariaDB that
//! scripts/test.sh starts: each item passes for its admin, and fails with
//! its code for a user without privileges, a wrong password or a host
//! without the backup tool.

#[path = "support/discovery_env.rs"]
mod discovery_env;
#[path = "support/mysql_logins.rs"]
mod mysql_logins;

use dbs_gateway::api::gateway::BackupMethod as Method;
use dbs_gateway::backup::precheck::{self, Item};
use mysql_async::prelude::Queryable;
use mysql_logins::{admin_login, admin_opts, login};

fn agent_path() -> std::ffi::OsString {
    std::env::var_os("PATH").unwrap_or_default()
}

fn codes(items: &[Item]) -> Vec<(&str, Option<&str>)> {
    items.iter().map(|i| (i.name, i.code)).collect()
}

#[tokio::test]
async fn every_item_passes_for_a_user_with_the_privileges() {
    let items = precheck::run(&admin_login(), Method::Physical, &agent_path()).await;
    assert_eq!(
        codes(&items),
        vec![
            ("Connectivity", None),
            ("Privileges", None),
            ("BackupTool", None),
            ("DataDirectory", None)
        ],
        "{items:?}"
    );
    let items = precheck::run(&admin_login(), Method::Logical, &agent_path()).await;
    assert_eq!(
        codes(&items),
        vec![("Connectivity", None), ("Privileges", None)]
    );
}

#[tokio::test]
async fn a_user_without_privileges_fails_the_privilege_item_naming_them() {
    let mut conn =
        mysql_async::Conn::new(admin_opts(discovery_env::env_port("DBS_TEST_MYSQL_PORT")))
            .await
            .expect("admin");
    for statement in [
        "DROP USER IF EXISTS 'pc_weak'@'127.0.0.1'",
        "CREATE USER 'pc_weak'@'127.0.0.1' IDENTIFIED BY 'weak-pw-3'",
        "GRANT SELECT, PROCESS ON *.* TO 'pc_weak'@'127.0.0.1'",
    ] {
        conn.query_drop(statement).await.expect(statement);
    }
    let items = precheck::run(
        &login("pc_weak", "weak-pw-3"),
        Method::Physical,
        &agent_path(),
    )
    .await;
    let privileges = items.iter().find(|i| i.name == "Privileges").unwrap();
    assert_eq!(privileges.code, Some("Backup.AccessDenied"));
    for missing in ["RELOAD", "LOCK TABLES", "BINLOG MONITOR"] {
        assert!(privileges.message.contains(missing), "{privileges:?}");
    }
    assert!(!privileges.message.contains("PROCESS"), "{privileges:?}");
}

#[tokio::test]
async fn a_wrong_password_fails_connectivity_and_stops_there() {
    let user = discovery_env::env("DBS_TEST_MYSQL_ADMIN_USER");
    let items = precheck::run(
        &login(&user, "not-the-password"),
        Method::Logical,
        &agent_path(),
    )
    .await;
    assert_eq!(codes(&items), vec![("Connectivity", Some("DbAuthFailed"))]);
}

#[tokio::test]
async fn a_host_without_the_backup_tool_fails_the_tool_item() {
    let empty = tempfile::tempdir().expect("tempdir");
    let items = precheck::run(&admin_login(), Method::Physical, empty.path().as_os_str()).await;
    assert_eq!(
        codes(&items),
        vec![
            ("Connectivity", None),
            ("Privileges", None),
            ("BackupTool", Some("Backup.ToolMissing"))
        ]
    );
}

//! Logins to the test MariaDB servers that scripts/test.sh starts, for the
//! backup tests: the agent's `Login` and the driver's admin options.

// Each test file uses a part of these helpers.
#![allow(dead_code)]

use dbs_gateway::discovery::{DatabaseConfig, DatabaseType, Login};
use dbs_gateway::secret::Secret;

use super::discovery_env::{env, env_port};

/// The agent's login to the plain server as `user`.
pub fn login(user: &str, password: &str) -> Login {
    let mut entry = DatabaseConfig::new(
        DatabaseType::Mysql,
        env("DBS_TEST_MYSQL_HOST"),
        env_port("DBS_TEST_MYSQL_PORT"),
    );
    entry.user = Some(user.into());
    entry.password = Some(Secret::new(password));
    Login::from_config(&entry).expect("login")
}

/// The agent's login to the plain server as its admin.
pub fn admin_login() -> Login {
    login(
        &env("DBS_TEST_MYSQL_ADMIN_USER"),
        &env("DBS_TEST_MYSQL_ADMIN_PASSWORD"),
    )
}

/// Driver options for the admin on `port` of the test host, over TCP.
pub fn admin_opts(port: u16) -> mysql_async::OptsBuilder {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(env("DBS_TEST_MYSQL_HOST"))
        .tcp_port(port)
        .user(Some(env("DBS_TEST_MYSQL_ADMIN_USER")))
        .pass(Some(env("DBS_TEST_MYSQL_ADMIN_PASSWORD")))
        .prefer_socket(false)
}

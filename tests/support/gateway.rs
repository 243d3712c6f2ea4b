//! A real dbs-gateway agent process with a gateway.toml written for a
//! control plane; it can be SIGKILLed and started again.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::control::{ControlProcess, Key};
use super::kill;

/// A dbs-gateway agent process.
pub struct Gateway {
    child: Option<Child>,
    /// Its gateway.toml.
    pub config: PathBuf,
    /// Its log file (appended to by every start).
    pub log: PathBuf,
    /// The key it signs with.
    pub key: Key,
}

impl Gateway {
    /// Writes `dir/gateway.toml` for `endpoint` and `key` with `extra` TOML
    /// (no process started).
    pub fn configure(dir: &Path, endpoint: &str, key: &Key, extra: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("gateway.toml");
        std::fs::write(
            &config,
            format!(
                "[gateway]\nidentifier = \"dbhost\"\nstate_dir = \"{}\"\n\n\
                 [control]\nendpoint = \"{endpoint}\"\naccess_key_id = \"{}\"\n\
                 access_key_secret = \"{}\"\n\n{extra}\n",
                dir.join("state").display(),
                key.0,
                key.1
            ),
        )
        .unwrap();
        Gateway {
            child: None,
            config,
            log: dir.join("agent.log"),
            key: key.clone(),
        }
    }

    /// Writes the config with a new gateway key of `control` and starts the
    /// agent.
    pub fn start(dir: &Path, control: &ControlProcess, extra: &str) -> Self {
        let mut gateway = Self::configure(dir, &control.endpoint, &control.gateway_key(), extra);
        gateway.restart();
        gateway
    }

    /// Starts the agent (again).
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_dbs-gateway"))
            .args(["run", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILLs the agent.
    pub fn kill(&mut self) {
        kill(&mut self.child);
    }

    /// Sends SIGTERM and waits for the agent to exit; true when it exited 0.
    pub fn terminate(&mut self) -> bool {
        let mut child = self.child.take().expect("the agent runs");
        let pid = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        child.wait().unwrap().success()
    }

    /// The agent's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

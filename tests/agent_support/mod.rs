//! Real dbs-control and dbs-gateway processes for the agent tests: a control
//! plane that can be SIGKILLed and started again on the same port and data
//! dir, an agent that can be SIGKILLed and restarted, signed API calls, and
//! the control plane's JSON log (each `serving set bytes` line is one GET of
//! a set's bytes).
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use dbs_gateway::api::{sign, API_VERSION, TIMESTAMP_FORMAT};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` every 200 ms until it answers Some, failing after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An AccessKey pair.
#[derive(Clone)]
pub struct Key {
    /// AccessKeyId.
    pub id: String,
    /// Its secret.
    pub secret: String,
}

/// A dbs-control process on a fixed loopback port, logging JSON lines to a file.
pub struct Control {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The listen port.
    pub port: u16,
    /// The data dir.
    pub data_dir: PathBuf,
    /// Its log file (appended to by every start).
    pub log: PathBuf,
    /// The gateway key the agent signs with.
    pub agent_key: Key,
    /// The key the tests' API calls sign with.
    pub user_key: Key,
    args: Vec<String>,
}

/// A new AccessKey: a user key, or with `args` e.g. `["--role", "gateway"]`.
fn create_key(data_dir: &Path, args: &[&str]) -> Key {
    let out = Command::new(env!("CARGO_BIN_EXE_dbs-control"))
        .args(["access-key", "create", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key: Value = serde_json::from_slice(&out.stdout).unwrap();
    Key {
        id: key["AccessKeyId"].as_str().unwrap().to_string(),
        secret: key["AccessKeySecret"].as_str().unwrap().to_string(),
    }
}

impl Control {
    /// Starts dbs-control in `dir` with extra `serve` arguments.
    pub fn start(dir: &Path, extra: &[&str]) -> Self {
        let data_dir = dir.join("control");
        let agent_key = create_key(&data_dir, &["--role", "gateway"]);
        let user_key = create_key(&data_dir, &[]);
        let port = free_port();
        let mut control = Control {
            child: None,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            data_dir,
            log: dir.join("control.log"),
            agent_key,
            user_key,
            args: extra.iter().map(|s| s.to_string()).collect(),
        };
        control.restart();
        control
    }

    /// Starts the process again (same port, data dir and arguments).
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_dbs-control"))
            .args(["serve", "--log-json", "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for("dbs-control to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", self.port))
                .ok()
                .map(drop)
        });
    }

    /// SIGKILLs the process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The JSON log lines whose message is `message`.
    pub fn log_events(&self, message: &str) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["message"] == message || e["fields"]["message"] == message)
            .map(|e| {
                if e["fields"].is_object() {
                    e["fields"].clone()
                } else {
                    e
                }
            })
            .collect()
    }

    /// The byte offsets of every GET of a set's bytes, in order.
    pub fn gets_of(&self, set_id: &str) -> Vec<u64> {
        self.log_events("serving set bytes")
            .iter()
            .filter(|e| e["set"] == set_id)
            .filter_map(|e| e["start"].as_u64())
            .collect()
    }

    /// A v1-signed API call with the user key: (HTTP status, JSON body).
    pub fn call(&self, action: &str, params: &[(&str, &str)]) -> (u16, Value) {
        signed_call(&self.endpoint, &self.user_key, action, params)
    }

    /// An API call that must succeed.
    pub fn ok(&self, action: &str, params: &[(&str, &str)]) -> Value {
        let (status, body) = self.call(action, params);
        assert_eq!(status, 200, "{action}: {body}");
        body
    }

    /// `dbs-control` admin CLI on this data dir; its JSON output.
    pub fn admin(&self, args: &[&str]) -> Value {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbs-control"));
        cmd.args(&args[..2])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&args[2..]);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Adds a set from `data` to `plan`; the printed JSON.
    pub fn add_set(&self, dir: &Path, plan: &str, name: &str, data: &[u8]) -> Value {
        let file = dir.join(format!("source-{name}"));
        std::fs::write(&file, data).unwrap();
        self.admin(&[
            "backup-set",
            "add",
            "--plan",
            plan,
            "--kind",
            "full",
            "--name",
            name,
            file.to_str().unwrap(),
        ])
    }

    /// The BackupGatewayId of `identifier` once it is ONLINE.
    pub fn wait_online(&self, identifier: &str) -> String {
        wait_for("the gateway to be ONLINE", Duration::from_secs(30), || {
            let (_, body) = self.call(
                "DescribeBackupGatewayList",
                &[("Region", "cn-hangzhou"), ("Identifier", identifier)],
            );
            let item = body["Items"]["BackupGateway"].get(0)?.clone();
            (item["BackupGatewayStatus"] == "ONLINE")
                .then(|| item["BackupGatewayId"].as_str().unwrap().to_string())
        })
    }

    /// Makes `plan` and turns its auto download on into `local:backups`.
    pub fn auto_download(&self, plan: &str, gateway_id: &str) {
        self.admin(&["backup-plan", "add", "--plan", plan]);
        self.ok(
            "ModifyBackupSetDownloadRules",
            &[
                ("BackupPlanId", plan),
                ("OpenAutoDownload", "true"),
                ("BackupGatewayId", gateway_id),
                ("BackupSetDownloadDir", "backups"),
                ("BackupSetDownloadTargetType", "agent"),
                ("BackupSetDownloadTargetTypeLocation", "local"),
                ("FullDataFormat", "Native"),
                ("IncrementDataFormat", "Native"),
            ],
        );
    }

    /// The download list of `plan` (None while the control plane is away).
    pub fn downloads(&self, plan: &str) -> Option<Vec<Value>> {
        let (status, body) = self.call(
            "DescribeBackupSetDownloadTaskList",
            &[("BackupPlanId", plan), ("PageSize", "100")],
        );
        (status == 200).then(|| {
            body["Items"]["BackupSetDownloadTaskDetail"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
    }

    /// Waits until `count` downloads of `plan` ended (finish or stop).
    pub fn wait_ended(&self, plan: &str, count: usize, limit: Duration) -> Vec<Value> {
        wait_for(
            &format!("{count} downloads of {plan} to end"),
            limit,
            || {
                let items = self.downloads(plan)?;
                let ended: Vec<Value> = items
                    .into_iter()
                    .filter(|d| {
                        matches!(
                            d["BackupSetDownloadStatus"].as_str(),
                            Some("finish" | "failed")
                        )
                    })
                    .collect();
                (ended.len() == count).then_some(ended)
            },
        )
    }

    /// The bytes a download of `plan` reported done so far (0 if none).
    pub fn bytes_done(&self, plan: &str) -> u64 {
        self.downloads(plan)
            .and_then(|items| items.first().cloned())
            .and_then(|d| d["BackupSetDownloadProgress"]["BytesDone"].as_u64())
            .unwrap_or(0)
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A v1-signed call to `endpoint` with `key`: (HTTP status, JSON body).
pub fn signed_call(
    endpoint: &str,
    key: &Key,
    action: &str,
    params: &[(&str, &str)],
) -> (u16, Value) {
    let timestamp = Utc::now().format(TIMESTAMP_FORMAT).to_string();
    let nonce = uuid::Uuid::new_v4().to_string();
    let mut form: Vec<(String, String)> = [
        ("Action", action),
        ("Version", API_VERSION),
        ("Format", "JSON"),
        ("AccessKeyId", &key.id),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", &nonce),
        ("Timestamp", &timestamp),
    ]
    .iter()
    .chain(params.iter())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signature = sign::sign_v1(
        "POST",
        form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &key.secret,
    );
    form.push(("Signature".into(), signature));
    let body = serde_urlencoded::to_string(&form).unwrap();
    let endpoint = endpoint.to_string();
    // A thread of its own: the tests are synchronous and reqwest is async.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let response = reqwest::Client::new()
                .post(&endpoint)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .timeout(Duration::from_secs(30))
                .send()
                .await;
            match response {
                Ok(response) => {
                    let status = response.status().as_u16();
                    (status, response.json().await.unwrap_or(Value::Null))
                }
                Err(_) => (0, Value::Null),
            }
        })
    })
    .join()
    .unwrap()
}

/// A dbs-gateway agent process with a config written for a control plane.
pub struct Gateway {
    child: Option<Child>,
    /// Its gateway.toml.
    pub config: PathBuf,
    /// Its log file (appended to by every start).
    pub log: PathBuf,
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
                key.id,
                key.secret
            ),
        )
        .unwrap();
        Gateway {
            child: None,
            config,
            log: dir.join("agent.log"),
        }
    }

    /// Writes the config and starts the agent.
    pub fn start(dir: &Path, control: &Control, extra: &str) -> Self {
        let mut gateway = Self::configure(dir, &control.endpoint, &control.agent_key, extra);
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
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
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

/// Reproducible bytes of `len`, different per `seed`.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block = Sha256::digest(seed.to_le_bytes()).to_vec();
    while out.len() < len {
        out.extend_from_slice(&block);
        block = Sha256::digest(&block).to_vec();
    }
    out.truncate(len);
    out
}

/// Hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// Every file under `root`, relative.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

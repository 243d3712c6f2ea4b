//! A real dbs-control process for a test, on a free loopback port with its
//! own data dir, stopped when dropped; it can be SIGKILLed and started again
//! on the same port and data dir. Also: AccessKeys made with the admin CLI,
//! v1-signed API calls (async, or blocking for tests without a runtime),
//! and the control plane's JSON log (each `serving set bytes` line is one
//! GET of a set's bytes).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{kill, wait_for, wait_for_port};

/// An AccessKey: (AccessKeyId, AccessKeySecret).
pub type Key = (String, String);

/// A running dbs-control.
pub struct ControlProcess {
    child: Option<Child>,
    /// Base URL, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The listen port.
    pub port: u16,
    /// Its data dir (kept by the test's temp dir).
    pub data_dir: PathBuf,
    /// A user AccessKey created before start.
    pub key_id: String,
    /// Its secret.
    pub key_secret: String,
    /// The file its stderr is appended to, if any.
    pub log: Option<PathBuf>,
    args: Vec<String>,
}

/// A free TCP port on loopback.
///
/// The port is taken below the kernel's ephemeral range (32768 and up), from
/// a counter of this process: a port from `bind(0)` could be handed again to
/// a client socket or an FTP server's passive data socket of a test running
/// beside this one before the server that was meant to have it binds it.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 20_000;
    const SPAN: u16 = 12_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Test binaries run one after another; each starts at its own offset.
    let start = std::process::id() % u32::from(SPAN);
    loop {
        let step = u32::from(NEXT.fetch_add(1, Ordering::Relaxed));
        let port = FIRST + ((start + step) % u32::from(SPAN)) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Creates an AccessKey in a data dir with the admin CLI (a user key unless
/// `args` say otherwise, e.g. `["--role", "gateway"]`); returns (id, secret).
pub fn create_access_key(data_dir: &Path, args: &[&str]) -> Key {
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
    (
        key["AccessKeyId"].as_str().unwrap().to_string(),
        key["AccessKeySecret"].as_str().unwrap().to_string(),
    )
}

impl ControlProcess {
    /// Starts dbs-control on `data_dir` with extra `serve` arguments.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_with_log(data_dir, extra, None)
    }

    /// Starts dbs-control like [`ControlProcess::start`], its stderr
    /// appended to the file `log` (for tests that read the log).
    pub fn start_logged(data_dir: &Path, extra: &[&str], log: &Path) -> Self {
        Self::start_with_log(data_dir, extra, Some(log.to_owned()))
    }

    /// Starts dbs-control with its data dir `dir/control` and JSON log lines
    /// in `dir/control.log` (see [`ControlProcess::log_events`]).
    pub fn start_in(dir: &Path, extra: &[&str]) -> Self {
        let mut args = vec!["--log-json"];
        args.extend_from_slice(extra);
        Self::start_logged(&dir.join("control"), &args, &dir.join("control.log"))
    }

    fn start_with_log(data_dir: &Path, extra: &[&str], log: Option<PathBuf>) -> Self {
        let (key_id, key_secret) = create_access_key(data_dir, &[]);
        let port = free_port();
        let mut control = ControlProcess {
            child: None,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            data_dir: data_dir.to_path_buf(),
            key_id,
            key_secret,
            log,
            args: extra.iter().map(|s| s.to_string()).collect(),
        };
        control.restart();
        control
    }

    /// Starts the process again (same port, data dir, arguments and log).
    pub fn restart(&mut self) {
        let stderr = match &self.log {
            Some(log) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .unwrap(),
            ),
            None => Stdio::inherit(),
        };
        let child = Command::new(env!("CARGO_BIN_EXE_dbs-control"))
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for_port("dbs-control", self.port);
    }

    /// SIGKILLs the process.
    pub fn kill(&mut self) {
        kill(&mut self.child);
    }

    /// A new gateway AccessKey, bound by its first heartbeat: (id, secret).
    pub fn gateway_key(&self) -> Key {
        create_access_key(&self.data_dir, &["--role", "gateway"])
    }

    /// The user AccessKey made at start: (id, secret).
    pub fn user_key(&self) -> Key {
        (self.key_id.clone(), self.key_secret.clone())
    }

    /// A v1-signed call made with `key` (id, secret); answers (HTTP status,
    /// JSON body).
    pub async fn call_as(&self, key: &Key, action: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let form = signed_form(key, action, params);
        let response = reqwest::Client::new()
            .post(&self.endpoint)
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// The process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("dbs-control runs").id()
    }

    /// A v1-signed API call with the user key, blocking: (HTTP status,
    /// JSON body); status 0 when nothing answers.
    pub fn call(&self, action: &str, params: &[(&str, &str)]) -> (u16, Value) {
        signed_call(&self.endpoint, &self.user_key(), action, params)
    }

    /// An API call that must succeed.
    pub fn ok(&self, action: &str, params: &[(&str, &str)]) -> Value {
        let (status, body) = self.call(action, params);
        assert_eq!(status, 200, "{action}: {body}");
        body
    }

    /// `dbs-control` admin CLI on this data dir (`args[..2]` is the command,
    /// e.g. `["access-key", "disable"]`); its JSON output.
    pub fn admin(&self, args: &[&str]) -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_dbs-control"))
            .args(&args[..2])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&args[2..])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// The JSON log lines whose message is `message` (after
    /// [`ControlProcess::start_in`]).
    pub fn log_events(&self, message: &str) -> Vec<Value> {
        let log = self.log.as_ref().expect("a logged dbs-control");
        std::fs::read_to_string(log)
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

    /// Adds `data` as the full set `name` of `plan` (its file written in
    /// `dir`); the printed JSON.
    pub fn add_full_set(&self, dir: &Path, plan: &str, name: &str, data: &[u8]) -> Value {
        let file = dir.join(format!("source-{name}"));
        std::fs::write(&file, data).unwrap();
        add_set(&self.data_dir, plan, "full", Some(name), &file)
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

    /// Waits until `count` downloads of `plan` ended (finish or failed).
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

/// A v1-signed call to `endpoint` with `key`, blocking (on a thread of its
/// own, for tests without a runtime): (HTTP status, JSON body); status 0
/// when nothing answers.
pub fn signed_call(
    endpoint: &str,
    key: &Key,
    action: &str,
    params: &[(&str, &str)],
) -> (u16, Value) {
    let body = serde_urlencoded::to_string(signed_form(key, action, params)).unwrap();
    let endpoint = endpoint.to_string();
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

/// `dbs-control backup-set add` of `file` (optionally under `name`); the
/// printed JSON.
pub fn add_set(data_dir: &Path, plan: &str, kind: &str, name: Option<&str>, file: &Path) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbs-control"));
    cmd.args(["backup-set", "add", "--data-dir"])
        .arg(data_dir)
        .args(["--plan", plan, "--kind", kind]);
    if let Some(name) = name {
        cmd.args(["--name", name]);
    }
    let out = cmd.arg(file).output().unwrap();
    assert!(
        out.status.success(),
        "backup-set add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The form of a v1-signed `action` call made with `key` (id, secret).
pub fn signed_form(key: &Key, action: &str, params: &[(&str, &str)]) -> Vec<(String, String)> {
    signed_params(key, "POST", action, params)
}

/// The parameters of a v1-signed `action` request of HTTP `method` made
/// with `key` (id, secret).
pub fn signed_params(
    key: &Key,
    method: &str,
    action: &str,
    params: &[(&str, &str)],
) -> Vec<(String, String)> {
    use dbs_gateway::api::{sign, API_VERSION, TIMESTAMP_FORMAT};
    let timestamp = chrono::Utc::now().format(TIMESTAMP_FORMAT).to_string();
    let nonce = uuid::Uuid::new_v4().to_string();
    let mut form: Vec<(String, String)> = [
        ("Action", action),
        ("Version", API_VERSION),
        ("Format", "JSON"),
        ("AccessKeyId", &key.0),
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
        method,
        form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &key.1,
    );
    form.push(("Signature".into(), signature));
    form
}

impl Drop for ControlProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

//! Starts a real dbs-control process for a test, on a free loopback port with
//! its own data dir, and stops it when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running dbs-control.
pub struct ControlProcess {
    child: Child,
    /// Base URL, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Its data dir (kept by the test's temp dir).
    pub data_dir: PathBuf,
    /// A user AccessKey created before start.
    pub key_id: String,
    /// Its secret.
    pub key_secret: String,
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Creates an AccessKey in a data dir with the admin CLI (a user key unless
/// `args` say otherwise, e.g. `["--role", "gateway"]`); returns (id, secret).
pub fn create_access_key(data_dir: &Path, args: &[&str]) -> (String, String) {
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
    let key: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        key["AccessKeyId"].as_str().unwrap().to_string(),
        key["AccessKeySecret"].as_str().unwrap().to_string(),
    )
}

impl ControlProcess {
    /// Starts dbs-control on `data_dir` with extra `serve` arguments.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_with_stderr(data_dir, extra, Stdio::inherit())
    }

    /// Starts dbs-control like [`ControlProcess::start`], its stderr written
    /// to the file `log` (for tests that read the log).
    pub fn start_logged(data_dir: &Path, extra: &[&str], log: &Path) -> Self {
        let log = std::fs::File::create(log).unwrap();
        Self::start_with_stderr(data_dir, extra, Stdio::from(log))
    }

    fn start_with_stderr(data_dir: &Path, extra: &[&str], stderr: Stdio) -> Self {
        let (key_id, key_secret) = create_access_key(data_dir, &[]);
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_dbs-control"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "dbs-control did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        ControlProcess {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            data_dir: data_dir.to_path_buf(),
            key_id,
            key_secret,
        }
    }
}

impl ControlProcess {
    /// A new gateway AccessKey, bound by its first heartbeat: (id, secret).
    pub fn gateway_key(&self) -> (String, String) {
        create_access_key(&self.data_dir, &["--role", "gateway"])
    }

    /// The user AccessKey made at start: (id, secret).
    pub fn user_key(&self) -> (String, String) {
        (self.key_id.clone(), self.key_secret.clone())
    }

    /// A v1-signed call made with `key` (id, secret); answers (HTTP status,
    /// JSON body).
    pub async fn call_as(
        &self,
        key: &(String, String),
        action: &str,
        params: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
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
        self.child.id()
    }
}

/// `dbs-control backup-set add` of `file` (optionally under `name`); the
/// printed JSON.
pub fn add_set(
    data_dir: &Path,
    plan: &str,
    kind: &str,
    name: Option<&str>,
    file: &Path,
) -> serde_json::Value {
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
pub fn signed_form(
    key: &(String, String),
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
        "POST",
        form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &key.1,
    );
    form.push(("Signature".into(), signature));
    form
}

impl Drop for ControlProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

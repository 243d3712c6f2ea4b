//! Backups taken by a real dbs-gateway agent of the real MariaDB that
//! scripts/test.sh starts, uploaded to a real dbs-control: each ends as a
//! recorded set whose size and CRC64 are those of the bytes the set URL
//! serves, and the plan's auto download fires for it; the upload route
//! refuses what it must, with its codes (raw requests signed with the test
//! keys, the test acting as the gateway); an agent SIGKILLed mid-upload
//! completes the set after its restart and no half set is listed meanwhile;
//! an agent stopped (SIGTERM) mid-backup leaves the task to a new backup; a
//! control plane restarted mid-upload gets the rest of the same backup;
//! MSSQL and Redis backups fail with their code.
//!
//! There is no public action that starts a plan here: runs are queued
//! through the library on the control plane's own SQLite file, as the plan
//! actions do (`catalog::runs::start`).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use dbs_gateway::api::gateway::{
    upload_path, BackupMethod, BackupSpec, SourceEndpoint, UPLOAD_ACTION,
};
use dbs_gateway::backup::logical::COMPLETE_MARKER;
use dbs_gateway::control::catalog::runs::{self, Trigger};
use dbs_gateway::control::catalog::{meta, plans, sets};
use dbs_gateway::control::{set_url, store, tasks};
use serde_json::{json, Value};
use support::control::{signed_params, ControlProcess, Key};
use support::discovery_env::{env, env_port};
use support::gateway::Gateway;
use support::tmpfs::Tmpfs;
use support::wait_for;

const PLAN: &str = "plan1";

/// A dbs-control with a short lease, the library's handle on its store,
/// and (optionally) an agent whose one `[[databases]]` entry is the test
/// MariaDB's admin.
struct Rig {
    dir: tempfile::TempDir,
    control: ControlProcess,
    store: store::Store,
    gateway: Option<Gateway>,
}

impl Rig {
    fn new(with_agent: bool) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let control = ControlProcess::start_in(
            dir.path(),
            &["--heartbeat-interval", "1", "--task-lease", "3"],
        );
        let gateway = with_agent
            .then(|| Gateway::start(&dir.path().join("gw"), &control, &agent_config(dir.path())));
        let store = store::open(&control.data_dir).unwrap();
        Rig {
            dir,
            control,
            store,
            gateway,
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("targets")
    }

    /// Queues a backup of the test MariaDB by `gateway_id` for `PLAN`; the
    /// set id and the task id.
    fn queue(
        &self,
        gateway_id: i64,
        database_type: &str,
        method: BackupMethod,
        kib: Option<u64>,
    ) -> (String, i64) {
        let spec = BackupSpec {
            backup_plan_id: PLAN.into(),
            backup_set_id: sets::new_set_id(),
            source: SourceEndpoint {
                database_type: database_type.into(),
                source_endpoint_ip: env("DBS_TEST_MYSQL_HOST"),
                source_endpoint_port: env_port("DBS_TEST_MYSQL_PORT"),
            },
            backup_method: method,
            backup_objects: None,
            speed_limit_kib: kib,
        };
        let set_id = spec.backup_set_id.clone();
        let task_id = self
            .store
            .call_now(move |c| {
                let now = store::now_ms();
                plans::get_or_create(c, PLAN, "MySQL", now)?;
                runs::start(c, &spec, gateway_id, Trigger::Manual, now)
            })
            .unwrap();
        (set_id, task_id)
    }

    fn task(&self, task_id: i64) -> tasks::Task {
        self.store
            .call_now(move |c| tasks::get(c, task_id))
            .unwrap()
            .unwrap()
    }

    /// The task once it ended (finish or failed).
    fn ended(&self, task_id: i64, limit: Duration) -> tasks::Task {
        wait_for(&format!("task {task_id} to end"), limit, || {
            let task = self.task(task_id);
            matches!(task.state.as_str(), "finish" | "failed").then_some(task)
        })
    }

    fn set(&self, set_id: &str) -> Option<sets::BackupSet> {
        let id = set_id.to_string();
        self.store.call_now(move |c| sets::get(c, &id)).unwrap()
    }

    /// The sets DescribeFullBackupList lists for `PLAN`.
    /// The plan's full list: each entry's set id and `BackupStatus`.
    fn listed(&self) -> Vec<(String, String)> {
        let body = self
            .control
            .ok("DescribeFullBackupList", &[("BackupPlanId", PLAN)]);
        body["Items"]["FullBackupFile"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|s| {
                let id = s["BackupSetId"].as_str()?.to_string();
                Some((id, s["BackupStatus"].as_str()?.to_string()))
            })
            .collect()
    }

    /// The bytes the set URL serves.
    async fn served(&self, set_id: &str) -> Vec<u8> {
        let id = set_id.to_string();
        let base = self.control.endpoint.clone();
        let url = self
            .store
            .call_now(move |c| {
                let key = meta::signing_key(c)?;
                Ok(set_url::signed_url(
                    &key,
                    Some(&base),
                    &id,
                    store::now_ms(),
                    set_url::LIST_URL_TTL,
                ))
            })
            .unwrap();
        let response = reqwest::get(url).await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap().to_vec()
    }

    /// Queues a physical backup slow enough (4 MiB/s) that a kill lands
    /// after its first chunk and before its end, and waits for the first
    /// chunk to be held; the set id and the task id.
    fn slow_backup_under_way(&self) -> (String, i64) {
        let gateway_id: i64 = self.control.wait_online("dbhost").parse().unwrap();
        let (set_id, task_id) = self.queue(gateway_id, "MySQL", BackupMethod::Physical, Some(4096));
        let part = self.part(&set_id);
        wait_for("a first chunk to be held", Duration::from_secs(120), || {
            std::fs::metadata(&part)
                .ok()
                .filter(|m| m.len() > 0)
                .map(|_| ())
        });
        (set_id, task_id)
    }

    fn part(&self, set_id: &str) -> PathBuf {
        runs::part_file(&self.control.data_dir, set_id)
    }
}

/// The agent's config: progress every second, a local target for the auto
/// download, and the test MariaDB with its admin login.
fn agent_config(dir: &Path) -> String {
    let root = dir.join("targets");
    std::fs::create_dir_all(&root).unwrap();
    format!(
        "[transfer]\nprogress_interval_secs = 1\nretry_initial_backoff_ms = 200\n\n\
         [targets.local]\nroot = \"{}\"\n\n\
         [[databases]]\ntype = \"mysql\"\nhost = \"{}\"\nport = {}\nuser = \"{}\"\npassword = \"{}\"\n",
        root.display(),
        env("DBS_TEST_MYSQL_HOST"),
        env_port("DBS_TEST_MYSQL_PORT"),
        env("DBS_TEST_MYSQL_ADMIN_USER"),
        env("DBS_TEST_MYSQL_ADMIN_PASSWORD"),
    )
}

fn crc64(data: &[u8]) -> String {
    let mut crc = crc64fast::Digest::new();
    crc.write(data);
    crc.sum64().to_string()
}

/// Checks a finished backup task: its set is recorded with the size and
/// CRC64 the task reported, which are those of the bytes served (and so is
/// its SHA-256); returns the bytes.
async fn assert_recorded(rig: &Rig, set_id: &str, task: &tasks::Task) -> Vec<u8> {
    assert_eq!(
        task.state, "finish",
        "{:?} {:?}",
        task.err_code, task.err_message
    );
    let result = task.result.clone().unwrap();
    let set = rig.set(set_id).expect("the set is recorded");
    let bytes = rig.served(set_id).await;
    assert_eq!(bytes.len() as u64, set.size);
    assert_eq!(crc64(&bytes), set.crc64);
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        set.sha256
    );
    assert_eq!(result["Size"], json!(set.size));
    assert_eq!(result["CRC64"], json!(set.crc64));
    assert_eq!(set.plan_id, PLAN);
    assert!(rig
        .listed()
        .contains(&(set_id.to_string(), "finish".to_string())));
    assert!(!rig.part(set_id).exists(), "the part file is gone");
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn physical_and_logical_backups_end_as_recorded_sets_and_auto_download() {
    let rig = Rig::new(true);
    let gateway_id = rig.control.wait_online("dbhost");
    rig.control.auto_download(PLAN, &gateway_id);
    let gateway_id: i64 = gateway_id.parse().unwrap();

    let (physical, physical_task) = rig.queue(gateway_id, "MySQL", BackupMethod::Physical, None);
    let task = rig.ended(physical_task, Duration::from_secs(300));
    let bytes = assert_recorded(&rig, &physical, &task).await;
    let name = rig.set(&physical).unwrap().name;
    assert!(
        name.starts_with("physical-") && name.ends_with(".xb"),
        "{name}"
    );
    assert!(bytes.starts_with(b"XBSTCK01"), "an xbstream");

    let (logical, logical_task) = rig.queue(gateway_id, "MySQL", BackupMethod::Logical, None);
    let task = rig.ended(logical_task, Duration::from_secs(300));
    let bytes = assert_recorded(&rig, &logical, &task).await;
    let name = rig.set(&logical).unwrap().name;
    assert!(
        name.starts_with("logical-") && name.ends_with(".sql"),
        "{name}"
    );
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(text.trim_end().lines().last(), Some(COMPLETE_MARKER));
    // The test server writes a binlog: the snapshot's position is reported.
    let position = task.result.as_ref().unwrap()["BinlogPosition"].clone();
    let (file, offset) = position.as_str().unwrap().rsplit_once(':').unwrap();
    assert!(
        !file.is_empty() && offset.parse::<u64>().is_ok(),
        "{position}"
    );

    // The plan's auto download fired for each set, into the local target.
    let downloads = rig.control.wait_ended(PLAN, 2, Duration::from_secs(120));
    for download in &downloads {
        assert_eq!(download["BackupSetDownloadStatus"], "finish", "{download}");
    }
    for id in [&physical, &logical] {
        let set = rig.set(id).unwrap();
        let path = rig
            .root()
            .join("backups")
            .join(PLAN)
            .join("full")
            .join(&set.name);
        assert_eq!(
            crc64(&std::fs::read(&path).unwrap()),
            set.crc64,
            "{}",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mssql_and_redis_backups_fail_with_their_code() {
    let rig = Rig::new(true);
    let gateway_id: i64 = rig.control.wait_online("dbhost").parse().unwrap();
    for database_type in ["MSSQL", "Redis"] {
        let (set_id, task_id) = rig.queue(gateway_id, database_type, BackupMethod::Physical, None);
        let task = rig.ended(task_id, Duration::from_secs(60));
        assert_eq!(task.state, "failed");
        assert_eq!(
            task.err_code.as_deref(),
            Some("Backup.UnsupportedDatabaseType"),
            "{database_type}"
        );
        assert!(rig.set(&set_id).is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_data_dir_fails_the_backup_at_once_with_its_code_and_keeps_no_part() {
    let rig = Rig::new(true);
    let gateway_id: i64 = rig.control.wait_online("dbhost").parse().unwrap();
    // The control plane's uploads on a tmpfs of 1 MiB: the physical
    // backup's set is larger.
    let uploads = rig.control.data_dir.join(runs::UPLOADS_DIR);
    std::fs::create_dir_all(&uploads).unwrap();
    let _full = Tmpfs::mount_at(&uploads, "1m");

    let (set_id, task_id) = rig.queue(gateway_id, "MySQL", BackupMethod::Physical, None);
    let task = rig.ended(task_id, Duration::from_secs(120));
    assert_eq!(task.state, "failed");
    assert_eq!(
        task.err_code.as_deref(),
        Some("Backup.ControlStorageFull"),
        "{:?}",
        task.err_message
    );
    assert!(rig.set(&set_id).is_none());
    assert!(!rig.part(&set_id).exists(), "the part is removed");
    let log = rig.gateway.as_ref().unwrap().log_text();
    assert!(
        !log.contains("retrying"),
        "a full control plane is not retried as if it were away: {log}"
    );
    let refusals = rig
        .control
        .log_events("the data dir is full; an upload was refused");
    assert!(!refusals.is_empty(), "dbs-control logs why");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_mid_upload_completes_the_set_after_its_restart() {
    let mut rig = Rig::new(true);
    let (set_id, task_id) = rig.slow_backup_under_way();
    let mut gateway = rig.gateway.take().unwrap();
    gateway.kill();
    assert_eq!(rig.task(task_id).state, "running");
    assert!(rig.set(&set_id).is_none(), "no half set is recorded");
    assert_eq!(
        rig.listed(),
        vec![(set_id.clone(), "running".to_string())],
        "a half set is listed only as a backup running"
    );

    gateway.restart();
    let task = rig.ended(task_id, Duration::from_secs(600));
    assert_recorded(&rig, &set_id, &task).await;
    let log = gateway.log_text();
    assert_eq!(
        log.matches("backup starts").count(),
        2,
        "one backup per attempt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_stopped_between_its_complete_and_its_report_reports_the_set_after_its_restart() {
    let mut rig = Rig::new(true);
    let gateway_id = rig.control.wait_online("dbhost");
    let mut gateway = rig.gateway.take().unwrap();
    gateway.kill();
    // The first attempt, as the agent: leased, uploaded whole, completed,
    // then stopped before its report.
    let (set_id, task_id) = rig.queue(
        gateway_id.parse().unwrap(),
        "MySQL",
        BackupMethod::Logical,
        None,
    );
    let leased = poll(&rig.control, &gateway.key, &gateway_id).await;
    assert_eq!(leased["Tasks"].as_array().unwrap().len(), 1);
    let upload = Upload {
        control: &rig.control,
        key: gateway.key.clone(),
        set_id: &set_id,
    };
    let whole = b"a set uploaded whole before its agent stopped";
    assert_eq!(upload.put(0, None, whole).await.0, 200);
    let done = upload.post(whole.len() as u64, &crc64(whole)).await;
    assert_eq!(done.0, 200, "{}", done.1);
    assert_eq!(rig.task(task_id).state, "running");

    gateway.restart();
    let task = rig.ended(task_id, Duration::from_secs(120));
    assert_eq!(task.state, "finish", "{:?}", task.err_message);
    assert_eq!(
        rig.served(&set_id).await,
        whole,
        "the set is the one uploaded"
    );
    let log = gateway.log_text();
    assert_eq!(
        log.matches("backup starts").count(),
        0,
        "no backup is taken again"
    );
    assert!(
        log.contains("uploaded whole by an earlier attempt"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_stopped_mid_backup_leaves_the_task_to_a_new_backup() {
    let mut rig = Rig::new(true);
    let (set_id, task_id) = rig.slow_backup_under_way();
    let mut gateway = rig.gateway.take().unwrap();
    assert!(gateway.terminate(), "the agent stops cleanly");
    // Interrupted, not failed: nothing was reported, no set is recorded.
    assert_eq!(rig.task(task_id).state, "running");
    assert!(rig.set(&set_id).is_none());
    assert!(gateway.log_text().contains("task interrupted by shutdown"));

    gateway.restart();
    let task = rig.ended(task_id, Duration::from_secs(600));
    assert_recorded(&rig, &set_id, &task).await;
    assert_eq!(gateway.log_text().matches("backup starts").count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_plane_restarted_mid_upload_gets_the_rest_of_the_same_backup() {
    let mut rig = Rig::new(true);
    let (set_id, task_id) = rig.slow_backup_under_way();
    // Away for longer than a chunk takes at this speed: a PUT fails.
    rig.control.kill();
    std::thread::sleep(Duration::from_secs(4));
    rig.control.restart();

    let task = rig.ended(task_id, Duration::from_secs(600));
    assert_recorded(&rig, &set_id, &task).await;
    let log = rig.gateway.as_ref().unwrap().log_text();
    assert!(log.contains("upload request failed; retrying"), "{log}");
    assert_eq!(
        log.matches("backup starts").count(),
        1,
        "one backup, uploaded on"
    );
}

/// The test as the gateway: a gateway key, heartbeated as `identifier`;
/// its BackupGatewayId.
async fn register(control: &ControlProcess, key: &Key, identifier: &str) -> String {
    let (status, body) = control
        .call_as(
            key,
            "GatewayHeartbeat",
            &[("Identifier", identifier), ("Region", "cn-hangzhou")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["BackupGatewayId"].as_str().unwrap().to_string()
}

/// Leases the queued tasks of `gateway_id`.
async fn poll(control: &ControlProcess, key: &Key, gateway_id: &str) -> Value {
    let (status, body) = control
        .call_as(
            key,
            "GatewayPollTasks",
            &[
                ("BackupGatewayId", gateway_id),
                ("WaitSeconds", "0"),
                ("MaxTasks", "4"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Signed requests on the upload route of one set with one key.
struct Upload<'a> {
    control: &'a ControlProcess,
    key: Key,
    set_id: &'a str,
}

impl Upload<'_> {
    /// One request: (status, JSON).
    async fn send(
        &self,
        method: reqwest::Method,
        params: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Value) {
        let query = signed_params(&self.key, method.as_str(), UPLOAD_ACTION, params);
        let url = format!("{}{}", self.control.endpoint, upload_path(self.set_id));
        let response = reqwest::Client::new()
            .request(method, url)
            .query(&query)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self) -> (u16, Value) {
        self.send(reqwest::Method::GET, &[], b"").await
    }

    /// `chunk` at `offset`, with the CRC64 `crc` (its own when `None`).
    async fn put(&self, offset: u64, crc: Option<&str>, chunk: &[u8]) -> (u16, Value) {
        let crc = crc.map_or_else(|| crc64(chunk), str::to_string);
        let params = [("Offset", offset.to_string()), ("ChunkCRC64", crc)];
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.send(reqwest::Method::PUT, &params, chunk).await
    }

    async fn post(&self, size: u64, crc: &str) -> (u16, Value) {
        let size = size.to_string();
        self.send(
            reqwest::Method::POST,
            &[("Size", &size), ("CRC64", crc)],
            b"",
        )
        .await
    }
}

/// An answer's status and error code.
fn code(answer: &(u16, Value)) -> (u16, Option<&str>) {
    (answer.0, answer.1["Code"].as_str())
}

/// An answer's status and held offset.
fn offset(answer: &(u16, Value)) -> (u16, Option<u64>) {
    (answer.0, answer.1["Offset"].as_u64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_route_refuses_what_it_must_with_its_codes() {
    let rig = Rig::new(false);
    let control = &rig.control;
    let key = control.gateway_key();
    let other_key = control.gateway_key();
    let gateway_id = register(control, &key, "gw-a").await;
    register(control, &other_key, "gw-b").await;
    let id: i64 = gateway_id.parse().unwrap();
    let (set_id, task_id) = rig.queue(id, "MySQL", BackupMethod::Logical, None);
    let (failing_set, failing_task) = rig.queue(id, "MySQL", BackupMethod::Logical, None);
    let as_gateway = |key: &Key, set_id| Upload {
        control,
        key: key.clone(),
        set_id,
    };
    let upload = as_gateway(&key, &set_id);

    // Not leased yet: closed.
    assert_eq!(
        code(&upload.get().await),
        (409, Some("Upload.TaskNotRunning"))
    );
    let leased = poll(control, &key, &gateway_id).await;
    assert_eq!(leased["Tasks"].as_array().unwrap().len(), 2);

    let (first, second, whole) = (b"hello, ", b"world", b"hello, world");
    assert_eq!(offset(&upload.put(0, None, first).await), (200, Some(7)));

    // A chunk whose CRC64 differs is cut off again.
    let refused = upload.put(7, Some("12345"), second).await;
    assert_eq!(code(&refused), (400, Some("Upload.ChunkChecksumMismatch")));
    assert_eq!(offset(&upload.get().await), (200, Some(7)));
    assert_eq!(std::fs::read(rig.part(&set_id)).unwrap(), first);

    // A wrong offset is refused with the held one.
    let refused = upload.put(3, None, second).await;
    assert_eq!(code(&refused), (409, Some("Upload.OffsetMismatch")));
    assert_eq!(offset(&refused), (409, Some(7)));

    // Another gateway's key, and a user key.
    let other = as_gateway(&other_key, &set_id).get().await;
    assert_eq!(code(&other), (403, Some("Forbidden.NotYourGateway")));
    let user = as_gateway(&control.user_key(), &set_id).get().await;
    assert_eq!(code(&user), (403, Some("Forbidden.UserKey")));

    assert_eq!(offset(&upload.put(7, None, second).await), (200, Some(12)));
    let whole_crc = crc64(whole);

    // A complete with the wrong size keeps the bytes; the right one records
    // the set (even one moved but not recorded), and a second one answers
    // the same.
    assert_eq!(
        code(&upload.post(11, &whole_crc).await),
        (400, Some("Upload.SizeMismatch"))
    );
    assert!(rig.set(&set_id).is_none());
    // As a control plane killed between moving the whole among the sets and
    // recording it leaves it: the complete takes it from there.
    let sets_dir = control.data_dir.join(sets::SETS_DIR);
    std::fs::create_dir_all(&sets_dir).unwrap();
    std::fs::rename(rig.part(&set_id), sets_dir.join(&set_id)).unwrap();
    let done = upload.post(12, &whole_crc).await;
    assert_eq!(done.0, 200, "{}", done.1);
    assert_eq!(done.1["CRC64"], json!(whole_crc));
    assert_eq!(upload.post(12, &whole_crc).await, done);
    assert_eq!(rig.served(&set_id).await, whole);

    // A finish whose set was not uploaded fails the task; the part of a
    // failed task is removed.
    let failing = as_gateway(&key, &failing_set);
    assert_eq!(failing.put(0, None, first).await.0, 200);
    let report = |task: i64, result: Value| {
        let (key, gateway_id) = (key.clone(), gateway_id.clone());
        async move {
            control
                .call_as(
                    &key,
                    "GatewayReportTask",
                    &[
                        ("BackupGatewayId", &gateway_id),
                        ("TaskId", &task.to_string()),
                        ("Status", "finish"),
                        ("Result", &result.to_string()),
                    ],
                )
                .await
        }
    };
    let (status, body) = report(failing_task, json!({"Size": 7, "CRC64": crc64(first)})).await;
    assert_eq!(status, 200, "{body}");
    let failed = rig.task(failing_task);
    assert_eq!(
        (failed.state.as_str(), failed.err_code.as_deref()),
        ("failed", Some("Backup.SetNotRecorded"))
    );
    assert!(
        !rig.part(&failing_set).exists(),
        "the failed upload's part is removed"
    );
    assert!(rig.set(&failing_set).is_none());

    // The recorded set's finish is taken; then its upload is closed.
    let (status, body) = report(task_id, json!({"Size": 12, "CRC64": whole_crc})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rig.task(task_id).state, "finish");
    assert_eq!(
        code(&upload.put(0, None, second).await),
        (409, Some("Upload.TaskNotRunning"))
    );
}

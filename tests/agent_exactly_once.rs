//! Each download task runs once, with real dbs-control and dbs-gateway
//! processes and a short task lease: a queue longer than the agent's slots,
//! the control plane SIGKILLed and away for longer than a lease, and an
//! agent SIGKILLed more often than the attempt limit while making progress;
//! and a download given up leaves its partial for the set queued again.
//! A GET of a set's bytes from offset 0 (one `serving set bytes` log line of
//! dbs-control with `start` 0) is one download started from scratch.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::control::{signed_call, ControlProcess};
use support::files::{content, files_under, sha256_file};
use support::gateway::Gateway;
use support::wait_for;

const PLAN: &str = "plan1";

/// The agent's `[transfer]` and target for these tests: a shared bandwidth
/// cap so that every download outlives the lease, and the first wait
/// before a download retries.
fn transfer(root: &Path, bandwidth: &str, retry_ms: u64) -> String {
    format!(
        "[transfer]\nmax_concurrent = 2\nbandwidth_limit_bytes_per_sec = \"{bandwidth}\"\n\
         progress_interval_secs = 1\nretry_initial_backoff_ms = {retry_ms}\n\
         retry_max_backoff_secs = 30\nmax_retries = 30\n\n[targets.local]\nroot = \"{}\"\n",
        root.display()
    )
}

/// Checks every download finished with its bytes at the layout path, each
/// set started from offset 0 once, and nothing else left in the target.
fn assert_each_once(
    control: &ControlProcess,
    root: &Path,
    sets: &[(Value, Vec<u8>)],
    ended: &[Value],
) {
    for download in ended {
        assert_eq!(download["BackupSetDownloadStatus"], "finish", "{download}");
    }
    let mut expected = Vec::new();
    for (set, data) in sets {
        let id = set["BackupSetId"].as_str().unwrap();
        let name = set["BackupSetName"].as_str().unwrap();
        let gets = control.gets_of(id);
        let from_zero = gets.iter().filter(|&&start| start == 0).count();
        assert_eq!(
            from_zero, 1,
            "set {id} started from zero {from_zero} times: {gets:?}"
        );
        let path = Path::new("backups").join(PLAN).join("full").join(name);
        assert_eq!(
            sha256_file(&root.join(&path)),
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data))
        );
        expected.push(path);
    }
    expected.sort();
    assert_eq!(files_under(root), expected, "files left beside the sets");
}

#[test]
fn a_queue_longer_than_the_slots_downloads_each_set_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("target");
    std::fs::create_dir_all(&root).unwrap();
    let control = ControlProcess::start_in(
        dir.path(),
        &["--heartbeat-interval", "1", "--task-lease", "3"],
    );
    let mut gateway = Gateway::start(
        &dir.path().join("gw"),
        &control,
        &transfer(&root, "2MiB", 200),
    );
    let gateway_id = control.wait_online("dbhost");
    control.auto_download(PLAN, &gateway_id);
    // The whole queue is there when the agent polls. Ten sets of 6 MiB at
    // 2 MiB/s shared by two downloads: each takes about 6 s, twice the 3 s
    // lease; the queue about 30 s.
    gateway.kill();
    let sets: Vec<(Value, Vec<u8>)> = (0..10)
        .map(|i| {
            let data = content(6 << 20, i);
            (
                control.add_full_set(dir.path(), PLAN, &format!("set-{i}.xb"), &data),
                data,
            )
        })
        .collect();
    gateway.restart();
    let ended = control.wait_ended(PLAN, 10, Duration::from_secs(180));
    assert_each_once(&control, &root, &sets, &ended);
}

#[test]
fn a_control_plane_killed_for_longer_than_a_lease_gets_the_task_finished_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("target");
    std::fs::create_dir_all(&root).unwrap();
    let mut control = ControlProcess::start_in(
        dir.path(),
        &["--heartbeat-interval", "1", "--task-lease", "3"],
    );
    let gateway = Gateway::start(
        &dir.path().join("gw"),
        &control,
        // The broken download waits 4 to 8 s, then 8 to 16 s, before it
        // asks again: the agent's polls reach the returned control plane
        // before its progress reports do.
        &transfer(&root, "1MiB", 8000),
    );
    let gateway_id = control.wait_online("dbhost");
    control.auto_download(PLAN, &gateway_id);
    let data = content(10 << 20, 7);
    let set = control.add_full_set(dir.path(), PLAN, "big.xb", &data);
    wait_for("2 MiB reported done", Duration::from_secs(60), || {
        (control.bytes_done(PLAN) >= 2 << 20).then_some(())
    });
    control.kill();
    // Away for 12 s, four leases of 3 s (the 60 s of a real outage would
    // only make the test slower: what matters is that leases lapse).
    std::thread::sleep(Duration::from_secs(12));
    control.restart();
    let ended = control.wait_ended(PLAN, 1, Duration::from_secs(120));
    assert_each_once(&control, &root, &[(set, data)], &ended);
    assert!(
        !gateway.log_text().contains("task failed"),
        "{}",
        gateway.log_text()
    );
}

#[test]
fn an_agent_killed_more_often_than_the_attempt_limit_finishes_when_each_run_progresses() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("target");
    std::fs::create_dir_all(&root).unwrap();
    let control = ControlProcess::start_in(
        dir.path(),
        &["--heartbeat-interval", "1", "--task-lease", "2"],
    );
    let mut gateway = Gateway::start(
        &dir.path().join("gw"),
        &control,
        &transfer(&root, "1MiB", 200),
    );
    let gateway_id = control.wait_online("dbhost");
    control.auto_download(PLAN, &gateway_id);
    let data = content(40 << 20, 11);
    let set = control.add_full_set(dir.path(), PLAN, "loop.xb", &data);
    // dbs-control gives a task up after 5 leases without a report
    // (MAX_ATTEMPTS); kill the agent 7 times, each after it made progress.
    let mut done = 0;
    for run in 1..=7 {
        done = wait_for(
            &format!("run {run} to report progress beyond {done} bytes"),
            Duration::from_secs(60),
            || {
                let now = control.bytes_done(PLAN);
                (now >= done + (1 << 20)).then_some(now)
            },
        );
        gateway.kill();
        // Let the lease lapse before the next run.
        std::thread::sleep(Duration::from_secs(3));
        gateway.restart();
    }
    let ended = control.wait_ended(PLAN, 1, Duration::from_secs(120));
    assert_each_once(&control, &root, &[(set, data)], &ended);
}

#[test]
fn a_download_given_up_leaves_its_partial_for_the_set_queued_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("target");
    std::fs::create_dir_all(&root).unwrap();
    let control = ControlProcess::start_in(
        dir.path(),
        &["--heartbeat-interval", "1", "--task-lease", "2"],
    );
    let mut gateway = Gateway::start(
        &dir.path().join("gw"),
        &control,
        &transfer(&root, "1MiB", 200),
    );
    let gateway_id = control.wait_online("dbhost");
    control.auto_download(PLAN, &gateway_id);
    let data = content(8 << 20, 5);
    let first = control.add_full_set(dir.path(), PLAN, "again.xb", &data);
    wait_for("2 MiB reported done", Duration::from_secs(60), || {
        (control.bytes_done(PLAN) >= 2 << 20).then_some(())
    });
    gateway.kill();
    // Later runs of the agent that die before they report: the test leases
    // the task as the gateway until dbs-control gives it up.
    let given_up = wait_for("the task to be given up", Duration::from_secs(60), || {
        signed_call(
            &control.endpoint,
            &gateway.key,
            "GatewayPollTasks",
            &[
                ("BackupGatewayId", &gateway_id),
                ("MaxTasks", "1"),
                ("WaitSeconds", "0"),
            ],
        );
        std::thread::sleep(Duration::from_millis(2200));
        let items = control.downloads(PLAN)?;
        (items[0]["BackupSetDownloadStatus"] == "failed").then(|| items[0].clone())
    });
    assert_eq!(given_up["ErrCode"], "Task.LeaseExpired", "{given_up}");
    // The same set queued again (added again under its name): the new task
    // resumes from the partial the given-up one left.
    let second = control.add_full_set(dir.path(), PLAN, "again.xb", &data);
    gateway.restart();
    let ended = control.wait_ended(PLAN, 2, Duration::from_secs(120));
    let finished: Vec<&Value> = ended
        .iter()
        .filter(|d| d["BackupSetId"] == second["BackupSetId"])
        .collect();
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["BackupSetDownloadStatus"], "finish");
    let gets = control.gets_of(second["BackupSetId"].as_str().unwrap());
    assert!(!gets.is_empty() && !gets.contains(&0), "{gets:?}");
    assert!(gets[0] >= 2 << 20, "resumed from {gets:?}");
    assert_eq!(
        control.gets_of(first["BackupSetId"].as_str().unwrap())[0],
        0
    );
    let path = Path::new("backups")
        .join(PLAN)
        .join("full")
        .join("again.xb");
    assert_eq!(
        sha256_file(&root.join(&path)),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data))
    );
    assert_eq!(files_under(&root), vec![path]);
}

//! What the control plane cannot make the agent do, with real dbs-control
//! and dbs-gateway processes: connect to a Redis endpoint the operator did
//! not list, fetch a set from another port of the control plane's host,
//! read an answer of any size, start more tasks than it asked for; and an
//! agent configured with a plain `http://` endpoint that is not loopback
//! refuses to run.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::control::{ControlProcess, Key};
use support::files::{content, files_under};
use support::gateway::Gateway;
use support::wait_for;

/// A listener that records whether anything connected to it.
fn silent_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn assert_never_accepted(listener: &TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the agent connected to the listener: {other:?}"),
    }
}

#[test]
fn a_redis_endpoint_without_an_entry_is_refused_without_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlProcess::start_in(dir.path(), &["--heartbeat-interval", "1"]);
    let _gateway = Gateway::start(&dir.path().join("gw"), &control, "");
    let gateway_id = control.wait_online("dbhost");
    let (listener, port) = silent_listener();
    let port = port.to_string();
    let task = control.ok(
        "CreateGetDBListFromAgentTask",
        &[
            ("BackupGatewayId", &gateway_id),
            ("DatabaseType", "Redis"),
            ("SourceEndpointIP", "127.0.0.1"),
            ("SourceEndpointPort", &port),
            ("SourceEndpointRegion", "cn-hangzhou"),
        ],
    );
    let task_id = task["TaskId"].to_string();
    let answer = wait_for("the listing task to end", Duration::from_secs(60), || {
        let (_, body) = control.call(
            "GetDBListFromAgent",
            &[
                ("BackupGatewayId", &gateway_id),
                ("TaskId", &task_id),
                ("SourceEndpointRegion", "cn-hangzhou"),
            ],
        );
        (body["ErrCode"] != "Task.Running").then_some(body)
    });
    assert_eq!(answer["ErrCode"], "EndpointNotConfigured", "{answer}");
    assert!(
        answer["ErrMessage"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}")),
        "{answer}"
    );
    assert_never_accepted(&listener);
}

#[test]
fn a_set_url_on_another_port_of_the_control_plane_host_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("target");
    std::fs::create_dir_all(&root).unwrap();
    // The set URLs dbs-control hands out point at another port of its host.
    let (listener, other_port) = silent_listener();
    let public_url = format!("http://127.0.0.1:{other_port}");
    let control = ControlProcess::start_in(
        dir.path(),
        &["--heartbeat-interval", "1", "--public-url", &public_url],
    );
    let _gateway = Gateway::start(
        &dir.path().join("gw"),
        &control,
        &format!("[targets.local]\nroot = \"{}\"\n", root.display()),
    );
    let gateway_id = control.wait_online("dbhost");
    control.auto_download("plan1", &gateway_id);
    control.add_full_set(dir.path(), "plan1", "x.xb", &content(1 << 16, 1));
    let ended = control.wait_ended("plan1", 1, Duration::from_secs(60));
    assert_eq!(
        ended[0]["BackupSetDownloadStatus"], "failed",
        "{}",
        ended[0]
    );
    assert_eq!(
        ended[0]["ErrCode"], "Task.UrlHostNotAllowed",
        "{}",
        ended[0]
    );
    let message = ended[0]["ErrMessage"].as_str().unwrap();
    assert!(message.contains(&public_url), "{message}");
    assert_never_accepted(&listener);
    assert!(files_under(&root).is_empty());
}

/// Serves the gateway actions by hand: heartbeats get a normal answer,
/// polls an endless JSON string. Counts the bytes of poll answers written.
fn huge_answer_server(written: Arc<AtomicU64>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let written = written.clone();
            std::thread::spawn(move || {
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                // Headers and the form body (small) arrive together or soon.
                while !String::from_utf8_lossy(&request).contains("Action=") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
                let text = String::from_utf8_lossy(&request).to_string();
                if text.contains("Action=GatewayHeartbeat") {
                    let body = r#"{"RequestId":"r","BackupGatewayId":"1","BackupGatewayStatus":"ONLINE","HeartbeatIntervalSeconds":5,"PollWaitSeconds":25}"#;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    return;
                }
                // No length: the agent can only tell the size by reading.
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"RequestId\":\"",
                );
                let chunk = vec![b'a'; 1 << 16];
                for _ in 0..1024 {
                    if stream.write_all(&chunk).is_err() {
                        return;
                    }
                    written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                let _ = stream.write_all(b"\",\"Tasks\":[]}");
            });
        }
    });
    port
}

#[test]
fn an_oversized_answer_is_refused_without_reading_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let port = huge_answer_server(written.clone());
    let key = ("LTAItest".into(), "secret".into());
    let mut gateway = Gateway::configure(dir.path(), &format!("http://127.0.0.1:{port}"), &key, "");
    gateway.restart();
    wait_for(
        "the agent to refuse the poll's answer",
        Duration::from_secs(60),
        || {
            gateway
                .log_text()
                .contains("answer from the control plane exceeds 4 MiB")
                .then_some(())
        },
    );
    gateway.kill();
    // The answer was 64 MiB; the agent hung up soon after 4 MiB.
    let sent = written.load(Ordering::Relaxed);
    assert!(sent < 32 << 20, "{sent} bytes of the answer were taken");
}

/// What the greedy control plane saw.
#[derive(Default)]
struct Seen {
    /// `MaxTasks` of each poll.
    polls: Vec<usize>,
    /// `TaskId` of each report.
    reports: Vec<u64>,
    /// `RunningTasks` of each heartbeat.
    running: Vec<Vec<u64>>,
}

/// One request's form parameters (the body read to its Content-Length).
fn read_form(stream: &mut std::net::TcpStream) -> Option<Vec<(String, String)>> {
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                let body = &request[end + 4..end + 4 + length];
                return Some(form_urlencoded::parse(body).into_owned().collect());
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
}

/// Serves the gateway actions by hand and answers the first poll with
/// `extra` more tasks than asked for: get-DB-list tasks for a Redis
/// endpoint without an entry (each ends at once, refused), ids from 101.
/// Later polls wait a second and lease nothing.
fn greedy_server(seen: Arc<Mutex<Seen>>, extra: usize, redis_port: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let Some(form) = read_form(&mut stream) else {
                    return;
                };
                let param = |name: &str| {
                    form.iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let body = match param("Action").as_str() {
                    "GatewayHeartbeat" => {
                        let running = serde_json::from_str(&param("RunningTasks")).unwrap();
                        seen.lock().unwrap().running.push(running);
                        r#"{"RequestId":"r","BackupGatewayId":"1","BackupGatewayStatus":"ONLINE","HeartbeatIntervalSeconds":1,"PollWaitSeconds":25}"#.to_string()
                    }
                    "GatewayPollTasks" => {
                        let asked: usize = param("MaxTasks").parse().unwrap();
                        let first = {
                            let mut seen = seen.lock().unwrap();
                            seen.polls.push(asked);
                            seen.polls.len() == 1
                        };
                        let count = if first { asked + extra } else { 0 };
                        if !first {
                            std::thread::sleep(Duration::from_secs(1));
                        }
                        let tasks: Vec<serde_json::Value> = (0..count)
                            .map(|i| {
                                serde_json::json!({
                                    "TaskId": 101 + i as u64,
                                    "Attempt": 1,
                                    "LeaseSeconds": 30,
                                    "Spec": {
                                        "Kind": "GetDBList",
                                        "DatabaseType": "Redis",
                                        "SourceEndpointIP": "127.0.0.1",
                                        "SourceEndpointPort": redis_port,
                                    },
                                })
                            })
                            .collect();
                        serde_json::json!({"RequestId": "r", "Tasks": tasks}).to_string()
                    }
                    "GatewayReportTask" => {
                        let task_id = param("TaskId").parse().unwrap();
                        seen.lock().unwrap().reports.push(task_id);
                        r#"{"RequestId":"r","LeaseSeconds":30}"#.to_string()
                    }
                    other => panic!("unexpected action {other}"),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

#[test]
fn tasks_beyond_those_asked_for_are_left_to_their_leases() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (listener, redis_port) = silent_listener();
    let extra = 3;
    let port = greedy_server(seen.clone(), extra, redis_port);
    let key = ("LTAItest".into(), "secret".into());
    let mut gateway = Gateway::configure(dir.path(), &format!("http://127.0.0.1:{port}"), &key, "");
    gateway.restart();
    // The tasks taken end and are reported; then the agent polls on twice.
    let asked = wait_for(
        "the taken tasks' reports and two more polls",
        Duration::from_secs(60),
        || {
            let seen = seen.lock().unwrap();
            let asked = *seen.polls.first()?;
            (seen.reports.len() >= asked && seen.polls.len() >= 3).then_some(asked)
        },
    );
    gateway.kill();
    let seen = seen.lock().unwrap();
    assert!(asked >= 1, "{asked}");
    let taken: Vec<u64> = (101..101 + asked as u64).collect();
    let mut reported = seen.reports.clone();
    reported.sort();
    reported.dedup();
    assert_eq!(reported, taken, "only the tasks asked for run");
    let surplus: Vec<u64> = (101 + asked as u64..101 + (asked + extra) as u64).collect();
    for running in &seen.running {
        assert!(
            running.iter().all(|id| !surplus.contains(id)),
            "a surplus task's lease was renewed: {running:?}"
        );
    }
    let log = gateway.log_text();
    assert!(
        log.contains("the control plane offered more tasks than asked for"),
        "{log}"
    );
    assert!(log.contains(&format!("{surplus:?}")), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert_never_accepted(&listener);
}

fn check(config: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dbs-gateway"))
        .args(["check", "--config"])
        .arg(config)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The `control plane` line of `check` for `key` against `control`.
fn check_line(dir: &std::path::Path, control: &ControlProcess, key: &Key) -> String {
    let gateway = Gateway::configure(dir, &control.endpoint, key, "");
    let out = check(&gateway.config);
    out.lines()
        .find(|l| l.contains("control plane"))
        .unwrap_or_else(|| panic!("{out}"))
        .to_string()
}

#[test]
fn check_accepts_a_gateway_key_and_names_a_user_key_or_a_disabled_one() {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlProcess::start_in(dir.path(), &[]);
    let agent_key = control.gateway_key();
    let line = check_line(&dir.path().join("gw"), &control, &agent_key);
    assert!(line.starts_with("ok"), "{line}");
    let line = check_line(&dir.path().join("user"), &control, &control.user_key());
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(
        line.contains("user key") && line.contains("--gateway"),
        "{line}"
    );
    control.admin(&["access-key", "disable", &agent_key.0]);
    let line = check_line(&dir.path().join("off"), &control, &agent_key);
    assert!(
        line.starts_with("FAIL") && line.contains("disabled"),
        "{line}"
    );
}

#[test]
fn a_plain_http_endpoint_that_is_not_loopback_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let key = ("LTAItest".into(), "secret".into());
    // 192.0.2.1 (TEST-NET-1) never answers: the refusal comes before any
    // connection.
    let gateway = Gateway::configure(dir.path(), "http://192.0.2.1:8080", &key, "");
    let out = check(&gateway.config);
    let line = out
        .lines()
        .find(|l| l.contains("control plane"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.starts_with("FAIL"), "{out}");
    assert!(line.contains("control.allow_insecure_http"), "{out}");
    assert!(
        line.contains(&gateway.config.display().to_string()),
        "{out}"
    );
    // The agent itself does not start either.
    let run = Command::new(env!("CARGO_BIN_EXE_dbs-gateway"))
        .args(["run", "--config"])
        .arg(&gateway.config)
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("control.allow_insecure_http"));

    // Allowed: the check goes on to reach the endpoint (and fails to).
    let allowed = Gateway::configure(
        &dir.path().join("allowed"),
        "http://192.0.2.1:8080",
        &key,
        "",
    );
    let text = std::fs::read_to_string(&allowed.config).unwrap().replace(
        "[control]\n",
        "[control]\nallow_insecure_http = true\nrequest_timeout_secs = 1\n",
    );
    std::fs::write(&allowed.config, text).unwrap();
    let out = check(&allowed.config);
    let line = out
        .lines()
        .find(|l| l.contains("control plane"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(!line.contains("allow_insecure_http"), "{out}");
    assert!(line.contains("unreachable"), "{out}");
}

//! dbs-control cannot be exhausted without a key, and answers every request
//! under concurrent load: bodies over the limit are refused before they are
//! read, slow and idle connections are closed, connections beyond the limit
//! wait for a free slot, and no request panics.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use dbs_gateway::control::keys::{self, Role};
use serde_json::Value;
use support::control::ControlProcess;

/// Longest wait for something the server must do; generous, not a speed.
const PATIENCE: Duration = Duration::from_secs(30);

/// The form of a v1-signed `action` call.
fn signed_form(control: &ControlProcess, action: &str) -> Vec<(String, String)> {
    signed_form_with(control, action, &[])
}

/// The form of a v1-signed `action` call with parameters, made with the
/// user key.
fn signed_form_with(
    control: &ControlProcess,
    action: &str,
    params: &[(&str, String)],
) -> Vec<(String, String)> {
    signed_form_as(&control.user_key(), action, params)
}

/// The form of a v1-signed `action` call made with `key` (id, secret).
fn signed_form_as(
    key: &(String, String),
    action: &str,
    params: &[(&str, String)],
) -> Vec<(String, String)> {
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    support::control::signed_form(key, action, &params)
}

fn connect(control: &ControlProcess) -> TcpStream {
    let address = control.endpoint.trim_start_matches("http://");
    let stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// A request head for `/` with these extra header lines.
fn head(extra: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n{extra}\r\n"
    )
}

/// Reads one answer: status and JSON body (by Content-Length).
fn read_answer(stream: &mut TcpStream) -> (u16, Value) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let status: u16 = head[9..12].parse().unwrap();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                let body = &buffer[end + 4..end + 4 + length];
                return (status, serde_json::from_slice(body).unwrap_or_default());
            }
        }
        let n = stream
            .read(&mut chunk)
            .expect("the server answers before the test's patience runs out");
        assert!(n > 0, "connection closed before an answer: {buffer:?}");
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// Whether the server closed the connection (end of stream or a reset)
/// before the test's patience ran out; bytes of an answer are skipped.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn assert_error_shape(body: &Value, code: &str) {
    assert_eq!(body["Code"], code, "{body}");
    assert!(
        body["Message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["RequestId"].as_str().is_some_and(|r| r.len() > 10),
        "{body}"
    );
    assert_eq!(body["Success"], false, "{body}");
}

#[test]
fn a_declared_oversized_body_is_refused_before_it_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlProcess::start(dir.path(), &[]);
    let mut stream = connect(&control);
    // 10 MB announced, 1 KiB sent: the answer must not wait for the rest.
    stream
        .write_all(head("Content-Length: 10485760\r\n").as_bytes())
        .unwrap();
    stream.write_all(&[b'a'; 1024]).unwrap();
    let (status, body) = read_answer(&mut stream);
    assert_eq!(status, 413);
    assert_error_shape(&body, "RequestBodyTooLarge");
    // A body within the limit is read and served.
    let mut stream = connect(&control);
    let body = serde_urlencoded::to_string(signed_form(&control, "DescribeRegions")).unwrap();
    stream
        .write_all(head(&format!("Content-Length: {}\r\n", body.len())).as_bytes())
        .unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let (status, answer) = read_answer(&mut stream);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["Success"], true);
}

#[test]
fn an_oversized_chunked_body_is_cut_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlProcess::start(dir.path(), &["--max-body-bytes", "65536"]);
    let mut stream = connect(&control);
    stream
        .write_all(head("Transfer-Encoding: chunked\r\n").as_bytes())
        .unwrap();
    // 100 KiB in 1 KiB chunks, no terminating chunk: the server stops
    // reading once it has more than the limit.
    let chunk = format!("400\r\n{}\r\n", "a".repeat(1024));
    for _ in 0..100 {
        if stream.write_all(chunk.as_bytes()).is_err() {
            break;
        }
    }
    let (status, body) = read_answer(&mut stream);
    assert_eq!(status, 413);
    assert_error_shape(&body, "RequestBodyTooLarge");
}

#[test]
fn a_connection_that_sends_no_complete_head_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlProcess::start(
        dir.path(),
        &["--header-timeout-secs", "1", "--idle-timeout-secs", "600"],
    );
    let mut partial = connect(&control);
    partial.write_all(b"POST / HTTP/1.1\r\nHost: 12").unwrap();
    assert!(
        closed_by_server(&mut partial),
        "a half-sent head stayed open"
    );
    // A head trickled byte by byte is cut as well: the timeout counts from
    // its first byte, not from the last one.
    let mut trickle = connect(&control);
    let mut cut = false;
    for byte in b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        .iter()
        .cycle()
        .take(600)
    {
        if trickle.write_all(&[*byte]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        cut || closed_by_server(&mut trickle),
        "a trickled head stayed open"
    );
}

#[test]
fn a_stalled_body_is_cut_off_with_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlProcess::start(dir.path(), &["--body-timeout-secs", "1"]);
    let mut stream = connect(&control);
    stream
        .write_all(head("Content-Length: 1000\r\n").as_bytes())
        .unwrap();
    stream.write_all(b"Action=DescribeRegions&").unwrap();
    let (status, body) = read_answer(&mut stream);
    assert_eq!(status, 408);
    assert_error_shape(&body, "RequestTimeout");
    assert!(closed_by_server(&mut stream), "the connection stayed open");
}

#[test]
fn idle_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlProcess::start(
        dir.path(),
        &["--idle-timeout-secs", "1", "--header-timeout-secs", "600"],
    );
    // One that never sends a byte.
    let mut silent = connect(&control);
    // One idle after a keep-alive answer.
    let mut kept = connect(&control);
    let body = serde_urlencoded::to_string(signed_form(&control, "DescribeRegions")).unwrap();
    kept.write_all(head(&format!("Content-Length: {}\r\n", body.len())).as_bytes())
        .unwrap();
    kept.write_all(body.as_bytes()).unwrap();
    let (status, _) = read_answer(&mut kept);
    assert_eq!(status, 200);
    assert!(
        closed_by_server(&mut kept),
        "an idle keep-alive connection stayed open"
    );
    assert!(
        closed_by_server(&mut silent),
        "a silent connection stayed open"
    );
}

#[test]
fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlProcess::start(
        dir.path(),
        &["--max-connections", "8", "--header-timeout-secs", "600"],
    );
    let mut held: Vec<TcpStream> = (0..8).map(|_| connect(&control)).collect();
    let mut ninth = connect(&control);
    let body = serde_urlencoded::to_string(signed_form(&control, "DescribeRegions")).unwrap();
    ninth
        .write_all(head(&format!("Content-Length: {}\r\n", body.len())).as_bytes())
        .unwrap();
    ninth.write_all(body.as_bytes()).unwrap();
    // While eight connections hold every slot, the ninth is not served.
    ninth
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = ninth.read(&mut byte);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "the ninth connection was served or closed while eight held every slot: {early:?}"
    );
    // One slot frees: the ninth is served.
    drop(held.pop());
    ninth.set_read_timeout(Some(PATIENCE)).unwrap();
    let (status, answer) = read_answer(&mut ninth);
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_signed_calls_are_all_answered_each_in_its_own_span() {
    const CONNECTIONS: usize = 200;
    const CALLS_EACH: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("dbs-control.log");
    let control = std::sync::Arc::new(ControlProcess::start_logged(
        &dir.path().join("data"),
        &[],
        &log,
    ));
    // A gateway key per simulated gateway, made straight in the store.
    let store = dbs_gateway::control::store::open(&control.data_dir).unwrap();
    let keys: Vec<(String, String)> = (0..CONNECTIONS)
        .map(|gateway| {
            let identifier = format!("load-{gateway}");
            let key = store
                .call_now(|c| keys::create(c, Role::Gateway, Some(&identifier), 0))
                .unwrap();
            (key.id, key.secret)
        })
        .collect();
    let mut clients = Vec::new();
    for (gateway, key) in keys.into_iter().enumerate() {
        let control = control.clone();
        clients.push(tokio::spawn(async move {
            // One client per simulated gateway: its own keep-alive connection.
            let http = reqwest::Client::builder()
                .timeout(PATIENCE)
                .build()
                .unwrap();
            let call = |action: &str, params: &[(&str, String)]| {
                let form = signed_form_as(&key, action, params);
                http.post(&control.endpoint).form(&form).send()
            };
            let mut answered = 0;
            let mut gateway_id = String::new();
            for n in 0..CALLS_EACH {
                // A heartbeat, then long polls that wait across an await
                // while calls refused with no such action are logged.
                let sent = match n {
                    0 => {
                        let identifier = format!("load-{gateway}");
                        call(
                            "GatewayHeartbeat",
                            &[("Identifier", identifier), ("Region", "cn-hangzhou".into())],
                        )
                        .await
                    }
                    n if n % 2 == 1 => {
                        call(
                            "GatewayPollTasks",
                            &[
                                ("BackupGatewayId", gateway_id.clone()),
                                ("WaitSeconds", "1".into()),
                            ],
                        )
                        .await
                    }
                    _ => call("NoSuchAction", &[]).await,
                };
                let Ok(response) = sent else { continue };
                if let Ok(body) = response.json::<Value>().await {
                    if let Some(id) = body["BackupGatewayId"].as_str() {
                        gateway_id = id.to_string();
                    }
                    if body["RequestId"].is_string() {
                        answered += 1;
                    }
                }
            }
            // The heartbeat was taken, so the polls named a gateway and waited.
            assert!(!gateway_id.is_empty(), "load-{gateway} was not registered");
            answered
        }));
    }
    let mut answered = 0;
    for client in clients {
        answered += client.await.unwrap();
    }
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("panicked"), "dbs-control panicked:\n{log}");
    // A span left entered on a worker thread becomes the parent of
    // whatever runs there next: a request logged inside another's.
    let nested: Vec<&str> = log
        .lines()
        .filter(|l| l.matches("request_id").count() > 1)
        .collect();
    assert!(
        nested.is_empty(),
        "{} log lines in another request's span, e.g. {}",
        nested.len(),
        nested[0]
    );
    assert!(log.contains("request refused"), "{log}");
    assert_eq!(answered, CONNECTIONS * CALLS_EACH, "answers dropped");
}

#[test]
fn a_client_that_reads_none_of_an_answer_is_cut_off() {
    const SET_BYTES: usize = 64 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("full.xb");
    std::fs::write(&file, vec![7u8; SET_BYTES]).unwrap();
    let dbs_control = env!("CARGO_BIN_EXE_dbs-control");
    let set = support::control::add_set(&data, "p1", "full", None, &file);
    let control = ControlProcess::start(&data, &["--idle-timeout-secs", "1"]);
    let out = std::process::Command::new(dbs_control)
        .args(["backup-set", "url", "--data-dir"])
        .arg(&data)
        .args(["--set", set["BackupSetId"].as_str().unwrap()])
        .output()
        .unwrap();
    let url = String::from_utf8(out.stdout).unwrap();
    let path = url.trim().trim_start_matches(&control.endpoint);

    let mut stream = connect(&control);
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .unwrap();
    // Read nothing while the server fills the socket buffers and waits.
    std::thread::sleep(Duration::from_secs(8));
    let mut received = 0usize;
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => received += n,
        }
    }
    assert!(
        received < SET_BYTES,
        "the whole set was sent to a client that read nothing for 8 s"
    );
}

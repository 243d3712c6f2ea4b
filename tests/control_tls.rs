//! dbs-control serves HTTPS with a certificate it reloads on SIGHUP, and
//! refuses to guess a public URL from an unspecified listen address.
//! Certificates are made by `openssl` in the test's temp dir.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use dbs_gateway::api::{sign, API_VERSION, TIMESTAMP_FORMAT};
use serde_json::Value;
use support::control::ControlProcess;

/// Longest wait for something the server must do; generous, not a speed.
const PATIENCE: Duration = Duration::from_secs(30);

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throw-away CA `{name}-ca.crt` and a certificate for 127.0.0.1 signed
/// by it, `{name}.crt` and `{name}.key`, in `dir`.
fn make_certs(dir: &Path, name: &str) {
    let ca = format!("/CN=dbs-test-ca-{name}");
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &ca,
            "-keyout",
            &format!("{name}-ca.key"),
            "-out",
            &format!("{name}-ca.crt"),
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
        dir,
    );
    std::fs::write(
        dir.join(format!("{name}.ext")),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{name}-ca.crt"),
            "-CAkey",
            &format!("{name}-ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.crt"),
        ],
        dir,
    );
}

/// A client that trusts only the CA in `ca_file`.
fn client_trusting(ca_file: &Path) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca_file).unwrap()).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(PATIENCE)
        .build()
        .unwrap()
}

fn signed_form(control: &ControlProcess, action: &str) -> Vec<(String, String)> {
    let nonce = uuid::Uuid::new_v4().to_string();
    let timestamp = Utc::now().format(TIMESTAMP_FORMAT).to_string();
    let mut form: Vec<(String, String)> = [
        ("Action", action),
        ("Version", API_VERSION),
        ("Format", "JSON"),
        ("AccessKeyId", &control.key_id),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", &nonce),
        ("Timestamp", &timestamp),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signature = sign::sign_v1(
        "POST",
        form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &control.key_secret,
    );
    form.push(("Signature".into(), signature));
    form
}

/// Calls DescribeRegions over `url`; the answer's JSON or the error.
async fn describe_regions(
    http: &reqwest::Client,
    control: &ControlProcess,
    url: &str,
) -> Result<Value, reqwest::Error> {
    http.post(url)
        .form(&signed_form(control, "DescribeRegions"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
}

fn start_tls(dir: &Path) -> (ControlProcess, String) {
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    let control = ControlProcess::start(
        &dir.join("data"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let https = control.endpoint.replace("http://", "https://");
    (control, https)
}

#[tokio::test]
async fn https_is_served_with_the_given_certificate_and_plain_http_is_not() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), "server");
    let (control, https) = start_tls(dir.path());

    let http = client_trusting(&dir.path().join("server-ca.crt"));
    let answer = describe_regions(&http, &control, &https).await.unwrap();
    assert_eq!(answer["Success"], true, "{answer}");

    let plain = describe_regions(&reqwest::Client::new(), &control, &control.endpoint).await;
    assert!(
        plain.is_err(),
        "plain HTTP was served on the TLS port: {plain:?}"
    );

    // Set URLs made by this server name it with https://.
    let out = Command::new(env!("CARGO_BIN_EXE_dbs-control"))
        .args(["backup-set", "url", "--set", "bs1", "--data-dir"])
        .arg(&control.data_dir)
        .output()
        .unwrap();
    let url = String::from_utf8_lossy(&out.stdout);
    assert!(url.starts_with(&format!("{https}/sets/bs1?")), "{url}");
}

#[tokio::test]
async fn sighup_reloads_the_certificate_for_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), "server");
    make_certs(dir.path(), "next");
    let (control, https) = start_tls(dir.path());
    let old_ca = client_trusting(&dir.path().join("server-ca.crt"));
    let new_ca = client_trusting(&dir.path().join("next-ca.crt"));
    assert!(describe_regions(&old_ca, &control, &https).await.is_ok());
    assert!(describe_regions(&new_ca, &control, &https).await.is_err());

    for ext in ["crt", "key"] {
        std::fs::copy(
            dir.path().join(format!("next.{ext}")),
            dir.path().join(format!("server.{ext}")),
        )
        .unwrap();
    }
    let status = Command::new("kill")
        .args(["-HUP", &control.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    // The reload runs in the background: a fresh connection sees the new
    // certificate once it is done.
    let started = Instant::now();
    loop {
        let client = client_trusting(&dir.path().join("next-ca.crt"));
        if describe_regions(&client, &control, &https).await.is_ok() {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the new certificate is not served after SIGHUP"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fresh_old = client_trusting(&dir.path().join("server-ca.crt"));
    assert!(
        describe_regions(&fresh_old, &control, &https)
            .await
            .is_err(),
        "the old certificate is still served"
    );
    // The server is still up after the signal.
    assert!(describe_regions(&new_ca, &control, &https).await.is_ok());
}

#[test]
fn serve_refuses_to_guess_a_public_url_from_an_unspecified_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbs-control"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve kept running on 0.0.0.0 without --public-url");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("--public-url"), "{stderr}");
    assert!(stderr.contains("0.0.0.0"), "{stderr}");
}

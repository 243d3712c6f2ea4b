//! Keys with roles: a gateway key acts only for its own gateway, a user key
//! only through the public actions; keys can be disabled, rotated and
//! deleted; stored strings are bounded; v3 signatures cover the headers
//! that matter.

mod support;

use std::process::Command;

use chrono::Utc;
use dbs_gateway::api::{sign, API_VERSION, TIMESTAMP_FORMAT};
use serde_json::Value;
use support::control::{ControlProcess, Key};

async fn call(
    control: &ControlProcess,
    key: &Key,
    action: &str,
    params: &[(&str, &str)],
) -> (u16, Value) {
    control.call_as(key, action, params).await
}

fn user_key(control: &ControlProcess) -> Key {
    control.user_key()
}

fn admin(control: &ControlProcess, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dbs-control"))
        .arg("access-key")
        .args(args)
        .arg("--data-dir")
        .arg(&control.data_dir)
        .output()
        .unwrap()
}

async fn heartbeat(control: &ControlProcess, key: &Key, identifier: &str) -> (u16, Value) {
    call(
        control,
        key,
        "GatewayHeartbeat",
        &[("Identifier", identifier), ("Region", "cn-hangzhou")],
    )
    .await
}

/// Registers `identifier` with a new gateway key: (BackupGatewayId, key).
async fn register(control: &ControlProcess, identifier: &str) -> (String, Key) {
    let key = control.gateway_key();
    let (status, body) = heartbeat(control, &key, identifier).await;
    assert_eq!(status, 200, "{body}");
    (body["BackupGatewayId"].as_str().unwrap().to_string(), key)
}

fn started() -> (tempfile::TempDir, ControlProcess) {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlProcess::start(&dir.path().join("data"), &[]);
    (dir, control)
}

fn assert_refused(status: u16, body: &Value, code: &str) {
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["Code"], code, "{body}");
}

#[tokio::test]
async fn a_second_gateway_key_cannot_act_as_another_gateway() {
    let (_dir, control) = started();
    let (victim, victim_key) = register(&control, "db-host-1").await;
    let (own, intruder) = register(&control, "db-host-2").await;
    // A task queued for the victim.
    let (status, body) = call(
        &control,
        &user_key(&control),
        "CreateGetDBListFromAgentTask",
        &[
            ("BackupGatewayId", &victim),
            ("DatabaseType", "MySQL"),
            ("SourceEndpointIP", "127.0.0.1"),
            ("SourceEndpointPort", "3306"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let task_id = body["TaskId"].to_string();

    // Heartbeat as the victim: refused, and the victim is not marked STOPPED.
    let (status, body) = call(
        &control,
        &intruder,
        "GatewayHeartbeat",
        &[
            ("Identifier", "db-host-1"),
            ("Region", "cn-hangzhou"),
            ("State", "stopping"),
        ],
    )
    .await;
    assert_refused(status, &body, "Forbidden.NotYourGateway");
    // Poll the victim's tasks: refused, and the task stays queued for it.
    let (status, body) = call(
        &control,
        &intruder,
        "GatewayPollTasks",
        &[("BackupGatewayId", &victim)],
    )
    .await;
    assert_refused(status, &body, "Forbidden.NotYourGateway");
    // Report on the victim's task: refused.
    let (status, body) = call(
        &control,
        &intruder,
        "GatewayReportTask",
        &[
            ("BackupGatewayId", &victim),
            ("TaskId", &task_id),
            ("Status", "finish"),
            ("Result", "{}"),
        ],
    )
    .await;
    assert_refused(status, &body, "Forbidden.NotYourGateway");
    // Its own gateway id with the victim's task: not found there.
    let (status, body) = call(
        &control,
        &intruder,
        "GatewayReportTask",
        &[
            ("BackupGatewayId", &own),
            ("TaskId", &task_id),
            ("Status", "finish"),
            ("Result", "{}"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (404, Some("Task.NotFound"))
    );
    // Change a plan's download rules (a public action): refused.
    let (status, body) = call(
        &control,
        &intruder,
        "ModifyBackupSetDownloadRules",
        &[
            ("BackupPlanId", "any"),
            ("OpenAutoDownload", "true"),
            ("BackupGatewayId", &own),
            ("BackupSetDownloadDir", "stolen"),
        ],
    )
    .await;
    assert_refused(status, &body, "Forbidden.GatewayKey");

    // The victim still gets its task and is ONLINE.
    let (status, body) = call(
        &control,
        &victim_key,
        "GatewayPollTasks",
        &[("BackupGatewayId", &victim)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Tasks"][0]["TaskId"].to_string(), task_id);
    let (_, listed) = call(
        &control,
        &user_key(&control),
        "DescribeBackupGatewayList",
        &[("Region", "cn-hangzhou"), ("Identifier", "db-host-1")],
    )
    .await;
    assert_eq!(
        listed["Items"]["BackupGateway"][0]["BackupGatewayStatus"], "ONLINE",
        "{listed}"
    );
}

#[tokio::test]
async fn a_user_key_cannot_call_gateway_actions() {
    let (_dir, control) = started();
    let (status, body) = heartbeat(&control, &user_key(&control), "db-host-1").await;
    assert_refused(status, &body, "Forbidden.UserKey");
}

#[tokio::test]
async fn a_key_created_for_a_gateway_serves_that_gateway_only() {
    let (_dir, control) = started();
    let out = admin(&control, &["create", "--gateway", "db-host-7"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["Role"], "gateway");
    assert_eq!(printed["Gateway"], "db-host-7");
    let key = (
        printed["AccessKeyId"].as_str().unwrap().to_string(),
        printed["AccessKeySecret"].as_str().unwrap().to_string(),
    );
    let (status, body) = heartbeat(&control, &key, "db-host-8").await;
    assert_refused(status, &body, "Forbidden.NotYourGateway");
    let (status, body) = heartbeat(&control, &key, "db-host-7").await;
    assert_eq!(status, 200, "{body}");
    // Another unbound key cannot take db-host-7 either.
    let (status, body) = heartbeat(&control, &control.gateway_key(), "db-host-7").await;
    assert_refused(status, &body, "Forbidden.NotYourGateway");
}

#[tokio::test]
async fn disabled_deleted_and_rotated_keys() {
    let (_dir, control) = started();
    let (_, key) = register(&control, "db-host-1").await;

    assert!(admin(&control, &["disable", &key.0]).status.success());
    let (status, body) = heartbeat(&control, &key, "db-host-1").await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (403, Some("InvalidAccessKeyId.Inactive"))
    );
    assert!(admin(&control, &["enable", &key.0]).status.success());
    assert_eq!(heartbeat(&control, &key, "db-host-1").await.0, 200);

    // Rotation with a grace period: both secrets work, then only the new one.
    let out = admin(&control, &["rotate", &key.0]);
    assert!(out.status.success());
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new_key = (
        key.0.clone(),
        rotated["AccessKeySecret"].as_str().unwrap().to_string(),
    );
    assert_ne!(new_key.1, key.1);
    assert_eq!(heartbeat(&control, &key, "db-host-1").await.0, 200);
    assert_eq!(heartbeat(&control, &new_key, "db-host-1").await.0, 200);
    let out = admin(&control, &["rotate", "--grace", "0", &key.0]);
    let newest: Value = serde_json::from_slice(&out.stdout).unwrap();
    let newest_key = (
        key.0.clone(),
        newest["AccessKeySecret"].as_str().unwrap().to_string(),
    );
    let (status, body) = heartbeat(&control, &new_key, "db-host-1").await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureDoesNotMatch"))
    );
    assert_eq!(heartbeat(&control, &newest_key, "db-host-1").await.0, 200);

    // The list shows roles and bindings, never a secret.
    let out = admin(&control, &["list"]);
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(!listed.contains(&newest_key.1) && !listed.contains(&control.key_secret));
    let mine: Value = listed
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|k| k["AccessKeyId"] == key.0.as_str())
        .unwrap();
    assert_eq!(
        (mine["Role"].as_str(), mine["Gateway"].as_str()),
        (Some("gateway"), Some("db-host-1"))
    );

    assert!(admin(&control, &["delete", &key.0]).status.success());
    let (status, body) = heartbeat(&control, &newest_key, "db-host-1").await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (404, Some("InvalidAccessKeyId.NotFound"))
    );
    assert!(!admin(&control, &["delete", &key.0]).status.success());
}

#[tokio::test]
async fn oversized_and_malformed_strings_are_refused() {
    let (_dir, control) = started();
    let key = control.gateway_key();
    let long_id = "g".repeat(65);
    let (status, body) = heartbeat(&control, &key, &long_id).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidParameter.Identifier"))
    );
    let (_, body) = heartbeat(&control, &key, "bad\u{1}id").await;
    assert_eq!(body["Code"], "InvalidParameter.Identifier");
    let long_name = "n".repeat(129);
    let (_, body) = call(
        &control,
        &key,
        "GatewayHeartbeat",
        &[
            ("Identifier", "db-host-1"),
            ("Region", "cn-hangzhou"),
            ("DisplayName", &long_name),
        ],
    )
    .await;
    assert_eq!(body["Code"], "InvalidParameter.DisplayName");
    let facts = format!(r#"{{"Hostname":"{}"}}"#, "h".repeat(9000));
    let (_, body) = call(
        &control,
        &key,
        "GatewayHeartbeat",
        &[
            ("Identifier", "db-host-1"),
            ("Region", "cn-hangzhou"),
            ("HostFacts", &facts),
        ],
    )
    .await;
    assert_eq!(body["Code"], "InvalidParameter.HostFacts");
    // Nothing of those was stored or bound: the key still binds to db-host-1.
    let (status, body) = heartbeat(&control, &key, "db-host-1").await;
    assert_eq!(status, 200, "{body}");
    let gateway = body["BackupGatewayId"].as_str().unwrap().to_string();

    let user = user_key(&control);
    let token = "t".repeat(65);
    let (_, body) = call(
        &control,
        &user,
        "CreateGetDBListFromAgentTask",
        &[
            ("BackupGatewayId", &gateway),
            ("DatabaseType", "MySQL"),
            ("SourceEndpointIP", "127.0.0.1"),
            ("SourceEndpointPort", "3306"),
            ("ClientToken", &token),
        ],
    )
    .await;
    assert_eq!(body["Code"], "InvalidParameter.ClientToken");
    let (_, body) = call(
        &control,
        &user,
        "CreateGetDBListFromAgentTask",
        &[
            ("BackupGatewayId", &gateway),
            ("DatabaseType", "MySQL"),
            ("SourceEndpointIP", "127.0.0.1/../x y"),
            ("SourceEndpointPort", "3306"),
        ],
    )
    .await;
    assert_eq!(body["Code"], "InvalidParameter.SourceEndpointIP");
    let (_, body) = call(
        &control,
        &user,
        "DescribeBackupGatewayList",
        &[("Region", "cn-hangzhou"), ("Identifier", &long_id)],
    )
    .await;
    assert_eq!(body["Code"], "InvalidParameter.Identifier");

    // A nonce longer than any SDK makes.
    let mut form = vec![
        ("Action".to_string(), "DescribeRegions".to_string()),
        ("Version".into(), API_VERSION.into()),
        ("AccessKeyId".into(), user.0.clone()),
        ("SignatureMethod".into(), "HMAC-SHA1".into()),
        ("SignatureVersion".into(), "1.0".into()),
        ("SignatureNonce".into(), "n".repeat(1000)),
        (
            "Timestamp".into(),
            Utc::now().format(TIMESTAMP_FORMAT).to_string(),
        ),
    ];
    let signature = sign::sign_v1(
        "POST",
        form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &user.1,
    );
    form.push(("Signature".into(), signature));
    let response = reqwest::Client::new()
        .post(&control.endpoint)
        .form(&form)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Code"], "InvalidParameter.SignatureNonce");
}

/// A v3 call: `signed` names the headers the signature covers; every
/// header in `headers` is sent.
async fn v3_call(
    control: &ControlProcess,
    headers: &[(&str, String)],
    signed: &[&str],
) -> (u16, Value) {
    let host = control.endpoint.trim_start_matches("http://").to_string();
    let body = "";
    let payload = sign::sha256_hex(body.as_bytes());
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    all.push(("host".into(), host));
    all.push(("x-acs-content-sha256".into(), payload.clone()));
    let covered: Vec<(String, String)> = all
        .iter()
        .filter(|(k, _)| signed.contains(&k.as_str()))
        .cloned()
        .collect();
    let request = sign::V3Request {
        method: "POST",
        path: "/",
        query: Vec::new(),
        headers: covered,
        payload_sha256: &payload,
    };
    let (signature, signed_headers) = sign::sign_v3(&request, &control.key_secret);
    let mut builder = reqwest::Client::new().post(&control.endpoint).header(
        "authorization",
        format!(
            "ACS3-HMAC-SHA256 Credential={},SignedHeaders={signed_headers},Signature={signature}",
            control.key_id
        ),
    );
    for (k, v) in &all {
        if k != "host" {
            builder = builder.header(k.as_str(), v.as_str());
        }
    }
    let response = builder.body(body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_v3_call_must_sign_the_headers_that_matter() {
    let (_dir, control) = started();
    let headers = || {
        vec![
            ("x-acs-action", "DescribeRegions".to_string()),
            ("x-acs-version", API_VERSION.to_string()),
            (
                "x-acs-date",
                Utc::now().format(TIMESTAMP_FORMAT).to_string(),
            ),
            ("x-acs-signature-nonce", uuid::Uuid::new_v4().to_string()),
        ]
    };
    let every = [
        "host",
        "x-acs-action",
        "x-acs-version",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    ];
    let (status, body) = v3_call(&control, &headers(), &every).await;
    assert_eq!(status, 200, "{body}");

    // Signed over `host` alone: the action, date and nonce could be swapped.
    let (status, body) = v3_call(&control, &headers(), &["host"]).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("IncompleteSignature")),
        "{body}"
    );
    for left_out in [
        "x-acs-action",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    ] {
        let signed: Vec<&str> = every.iter().copied().filter(|h| *h != left_out).collect();
        let (_, body) = v3_call(&control, &headers(), &signed).await;
        assert_eq!(body["Code"], "IncompleteSignature", "{left_out}: {body}");
    }
}

//! dbs-control refuses calls it must not serve, each with its own code.

mod support;

use chrono::{Duration as ChronoDuration, Utc};
use dbs_gateway::api::{sign, API_VERSION, TIMESTAMP_FORMAT};
use serde_json::Value;
use support::control::ControlProcess;

/// A v1-signed call with full control over its parts.
struct Call<'a> {
    action: &'a str,
    params: Vec<(&'a str, String)>,
    key_id: String,
    secret: String,
    timestamp: String,
    nonce: String,
}

impl<'a> Call<'a> {
    fn new(control: &ControlProcess, action: &'a str) -> Self {
        Call {
            action,
            params: Vec::new(),
            key_id: control.key_id.clone(),
            secret: control.key_secret.clone(),
            timestamp: Utc::now().format(TIMESTAMP_FORMAT).to_string(),
            nonce: uuid::Uuid::new_v4().to_string(),
        }
    }

    fn form(&self) -> Vec<(String, String)> {
        let mut form: Vec<(String, String)> = [
            ("Action", self.action),
            ("Version", API_VERSION),
            ("Format", "JSON"),
            ("AccessKeyId", &self.key_id),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", &self.nonce),
            ("Timestamp", &self.timestamp),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        form.extend(self.params.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let signature = sign::sign_v1(
            "POST",
            form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &self.secret,
        );
        form.push(("Signature".into(), signature));
        form
    }
}

async fn send(control: &ControlProcess, form: &[(String, String)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(&control.endpoint)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn started() -> (tempfile::TempDir, ControlProcess) {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlProcess::start(dir.path(), &[]);
    (dir, control)
}

#[tokio::test]
async fn a_well_signed_call_is_served() {
    let (_dir, control) = started();
    let (status, body) = send(&control, &Call::new(&control, "DescribeRegions").form()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Success"], true);
    assert!(body["Regions"]["RegionCode"]
        .as_array()
        .unwrap()
        .contains(&"cn-hangzhou".into()));
    assert!(body["RequestId"].as_str().unwrap().len() > 10);
}

#[tokio::test]
async fn an_unknown_access_key_is_refused() {
    let (_dir, control) = started();
    let mut call = Call::new(&control, "DescribeRegions");
    call.key_id = "LTAInobody".into();
    let (status, body) = send(&control, &call.form()).await;
    assert_eq!(status, 404);
    assert_eq!(body["Code"], "InvalidAccessKeyId.NotFound");
    assert_eq!(body["ErrCode"], "InvalidAccessKeyId.NotFound");
    assert_eq!(body["Success"], false);
}

#[tokio::test]
async fn a_wrong_signature_is_refused() {
    let (_dir, control) = started();
    let mut call = Call::new(&control, "DescribeRegions");
    call.secret = "not-the-secret".into();
    let (status, body) = send(&control, &call.form()).await;
    assert_eq!(status, 400);
    assert_eq!(body["Code"], "SignatureDoesNotMatch");
}

#[tokio::test]
async fn a_tampered_parameter_breaks_the_signature() {
    let (_dir, control) = started();
    let mut call = Call::new(&control, "DescribeBackupGatewayList");
    call.params.push(("Region", "cn-hangzhou".into()));
    let mut form = call.form();
    form.iter_mut().find(|(k, _)| k == "Region").unwrap().1 = "cn-beijing".into();
    let (_, body) = send(&control, &form).await;
    assert_eq!(body["Code"], "SignatureDoesNotMatch");
}

#[tokio::test]
async fn a_stale_timestamp_is_refused() {
    let (_dir, control) = started();
    let mut call = Call::new(&control, "DescribeRegions");
    call.timestamp = (Utc::now() - ChronoDuration::minutes(16))
        .format(TIMESTAMP_FORMAT)
        .to_string();
    let (status, body) = send(&control, &call.form()).await;
    assert_eq!(status, 400);
    assert_eq!(body["Code"], "InvalidTimeStamp.Expired");

    call.timestamp = (Utc::now() + ChronoDuration::minutes(16))
        .format(TIMESTAMP_FORMAT)
        .to_string();
    let (_, body) = send(&control, &call.form()).await;
    assert_eq!(body["Code"], "InvalidTimeStamp.Expired");
}

#[tokio::test]
async fn a_reused_nonce_is_refused() {
    let (_dir, control) = started();
    let form = Call::new(&control, "DescribeRegions").form();
    let (first, _) = send(&control, &form).await;
    assert_eq!(first, 200);
    let (status, body) = send(&control, &form).await;
    assert_eq!(status, 400);
    assert_eq!(body["Code"], "SignatureNonceUsed");
}

#[tokio::test]
async fn a_missing_parameter_is_named() {
    let (_dir, control) = started();
    let (status, body) = send(
        &control,
        &Call::new(&control, "DescribeBackupGatewayList").form(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["Code"], "MissingParameter.Region");

    let mut unsigned = Call::new(&control, "DescribeRegions").form();
    unsigned.retain(|(k, _)| k != "Signature");
    let (_, body) = send(&control, &unsigned).await;
    assert_eq!(body["Code"], "MissingParameter.Signature");
}

#[tokio::test]
async fn a_bad_page_size_is_refused() {
    let (_dir, control) = started();
    let mut call = Call::new(&control, "DescribeBackupGatewayList");
    call.params.push(("Region", "cn-hangzhou".into()));
    call.params.push(("PageSize", "20".into()));
    let (status, body) = send(&control, &call.form()).await;
    assert_eq!(status, 400);
    assert_eq!(body["Code"], "InvalidParameter.PageSize");
}

#[tokio::test]
async fn an_unknown_action_is_refused() {
    let (_dir, control) = started();
    let (status, body) = send(&control, &Call::new(&control, "DropEverything").form()).await;
    assert_eq!(status, 404);
    assert_eq!(body["Code"], "InvalidAction.NotFound");
}

#[tokio::test]
async fn a_key_created_while_serving_works_at_once() {
    let (dir, control) = started();
    let (id, secret) = support::control::create_access_key(dir.path(), &[]);
    let mut call = Call::new(&control, "DescribeRegions");
    call.key_id = id;
    call.secret = secret;
    let (status, body) = send(&control, &call.form()).await;
    assert_eq!(status, 200, "{body}");
}

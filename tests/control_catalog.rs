//! The backup-set catalog against a real dbs-control: sets added with the
//! admin CLI while `serve` runs, their signed URLs (expiry, Range, If-Range,
//! 416, HEAD), list paging, download rules and their refusals, and an auto
//! download task leased and reported as a gateway would.

mod support;

use std::process::Command;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::control::{add_set, ControlProcess};

/// A v1-signed call with the user key; answers (HTTP status, JSON body).
async fn call(control: &ControlProcess, action: &str, params: &[(&str, &str)]) -> (u16, Value) {
    control.call_as(&control.user_key(), action, params).await
}

#[test]
fn the_cli_refuses_bad_names_and_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let file = dir.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    for (args, expected) in [
        (vec!["--plan", "p1", "--name", "../x"], "BackupSetName"),
        (vec!["--plan", "p1", "--name", "a\tb"], "BackupSetName"),
        (vec!["--plan", "p 1"], "BackupPlanId"),
        (vec!["--plan", "p1", "--db-type", "My SQL"], "DbType"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_dbs-control"))
            .args(["backup-set", "add", "--data-dir"])
            .arg(&data_dir)
            .args(["--kind", "full"])
            .args(&args)
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_dbs-control"))
        .args(["backup-set", "add", "--data-dir"])
        .arg(&data_dir)
        .args(["--plan", "p1", "--kind", "full"])
        .arg(dir.path().join("absent"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let sets = data_dir.join("sets");
    assert!(!sets.exists() || std::fs::read_dir(&sets).unwrap().next().is_none());
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn started() -> (tempfile::TempDir, ControlProcess) {
    let dir = tempfile::tempdir().unwrap();
    let control = ControlProcess::start(&dir.path().join("data"), &[]);
    (dir, control)
}

/// Registers a gateway with a heartbeat of a new gateway key; returns its
/// BackupGatewayId and that key.
async fn register_gateway(
    control: &ControlProcess,
    identifier: &str,
) -> (String, (String, String)) {
    let key = control.gateway_key();
    let (status, body) = control
        .call_as(
            &key,
            "GatewayHeartbeat",
            &[("Identifier", identifier), ("Region", "cn-hangzhou")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (body["BackupGatewayId"].as_str().unwrap().to_string(), key)
}

async fn manual_url(control: &ControlProcess, plan: &str, set_id: &str) -> String {
    let (status, body) = call(
        control,
        "CreateFullBackupSetDownload",
        &[("BackupSetId", set_id)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["BackupSetDownloadTaskId"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, list) = call(
        control,
        "DescribeBackupSetDownloadTaskList",
        &[("BackupPlanId", plan), ("BackupSetDownloadTaskId", &id)],
    )
    .await;
    let item = &list["Items"]["BackupSetDownloadTaskDetail"][0];
    assert_eq!(item["BackupSetDownloadStatus"], "finish", "{list}");
    assert_eq!(item["BackupSetDownloadWay"], "manual");
    // A full set's code is its id; a manual download has no target type.
    assert_eq!(item["BackupSetCode"], set_id);
    assert!(item.get("BackupSetDownloadTargetType").is_none(), "{item}");
    item["BackupSetDownloadInternetUrl"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_signed_url_serves_ranges_and_refuses_tampering_and_expiry() {
    let (dir, control) = started();
    let content = bytes(300_000, 7);
    let file = dir.path().join("full.xb");
    std::fs::write(&file, &content).unwrap();
    let set = add_set(&control.data_dir, "plan1", "full", None, &file);
    let sha = hex::encode(Sha256::digest(&content));
    assert_eq!(set["SHA256"], sha.as_str());
    assert_eq!(set["BackupSize"], 300_000);
    let set_id = set["BackupSetId"].as_str().unwrap();

    let url = manual_url(&control, "plan1", set_id).await;
    assert!(
        url.starts_with(&format!("{}/sets/{set_id}?Expires=", control.endpoint)),
        "{url}"
    );
    let http = reqwest::Client::new();
    let etag = format!("\"{sha}\"");

    // Whole.
    let whole = http.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["etag"], etag.as_str());
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(whole.bytes().await.unwrap().as_ref(), &content[..]);

    // A suffix from an offset, as a resuming agent asks.
    let part = http
        .get(&url)
        .header("Range", "bytes=100000-")
        .header("If-Range", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        "bytes 100000-299999/300000"
    );
    assert_eq!(part.headers()["content-length"], "200000");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &content[100_000..]);

    // A closed range.
    let closed = http
        .get(&url)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(closed.bytes().await.unwrap().as_ref(), &content[10..20]);

    // If-Range with another validator: the whole set, not a splice.
    let changed = http
        .get(&url)
        .header("Range", "bytes=100000-")
        .header("If-Range", "\"0000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(changed.bytes().await.unwrap().len(), content.len());

    // Unsatisfiable, malformed and multiple ranges: 416.
    for bad in ["bytes=300000-", "bytes=9-2", "bytes=0-1,5-6", "lines=1-2"] {
        let refused = http.get(&url).header("Range", bad).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{bad}");
        assert_eq!(refused.headers()["content-range"], "bytes */300000");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["Code"], "InvalidRange");
    }

    // HEAD: the headers, no body.
    let head = http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], "300000");
    assert_eq!(head.headers()["etag"], etag.as_str());
    assert!(head.bytes().await.unwrap().is_empty());

    // A tampered signature, another set's id, a missing signature: 403.
    let last = if url.ends_with('0') { "1" } else { "0" };
    let tampered = format!("{}{last}", &url[..url.len() - 1]);
    for (bad, code) in [
        (tampered, "SetUrl.SignatureDoesNotMatch"),
        (
            url.replace(set_id, "bsother"),
            "SetUrl.SignatureDoesNotMatch",
        ),
        (
            url.split('?').next().unwrap().to_string(),
            "SetUrl.Malformed",
        ),
    ] {
        let refused = http.get(&bad).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{bad}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["Code"], code, "{bad}");
    }

    // Signed with the server's key but expired: 403 SetUrl.Expired. A live
    // signature for a set that does not exist: 404.
    let store = dbs_gateway::control::store::open(&control.data_dir).unwrap();
    let key = store
        .call_now(|c| dbs_gateway::control::catalog::meta::signing_key(c))
        .unwrap();
    let past = Utc::now().timestamp() - 1;
    let sig = dbs_gateway::control::set_url::signature(&key, set_id, past);
    let expired = format!(
        "{}/sets/{set_id}?Expires={past}&Signature={sig}",
        control.endpoint
    );
    let refused = http.get(&expired).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["Code"], "SetUrl.Expired");
    let later = Utc::now().timestamp() + 60;
    let sig = dbs_gateway::control::set_url::signature(&key, "bsnone", later);
    let absent = format!(
        "{}/sets/bsnone?Expires={later}&Signature={sig}",
        control.endpoint
    );
    let refused = http.get(&absent).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn lists_page_newest_first_and_keep_kinds_apart() {
    let (dir, control) = started();
    let file = dir.path().join("f");
    let mut ids = Vec::new();
    for i in 0..31u8 {
        std::fs::write(&file, bytes(10 + i as usize, i)).unwrap();
        let set = add_set(
            &control.data_dir,
            "paged",
            "full",
            Some(&format!("full-{i}")),
            &file,
        );
        ids.push(set["BackupSetId"].as_str().unwrap().to_string());
    }
    let inc = add_set(
        &control.data_dir,
        "paged",
        "increment",
        Some("mysql-bin.000054"),
        &file,
    );

    let (status, first) = call(
        &control,
        "DescribeFullBackupList",
        &[("BackupPlanId", "paged")],
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["TotalElements"], 31);
    assert_eq!(first["TotalPages"], 2);
    assert_eq!(
        (first["PageNum"].clone(), first["PageSize"].clone()),
        (0.into(), 30.into())
    );
    let page0 = first["Items"]["FullBackupFile"].as_array().unwrap();
    assert_eq!(page0.len(), 30);
    assert_eq!(page0[0]["BackupSetId"], ids[30].as_str());
    assert_eq!(page0[0]["BackupSize"], 40);
    assert_eq!(page0[0]["BackupStatus"], "finish");
    assert!(page0[0]["FinishTime"].as_i64().unwrap() >= page0[0]["StartTime"].as_i64().unwrap());
    let (_, second) = call(
        &control,
        "DescribeFullBackupList",
        &[("BackupPlanId", "paged"), ("PageNum", "1")],
    )
    .await;
    let page1 = second["Items"]["FullBackupFile"].as_array().unwrap();
    assert_eq!(page1.len(), 1);
    assert_eq!(page1[0]["BackupSetId"], ids[0].as_str());

    let (_, one) = call(
        &control,
        "DescribeFullBackupList",
        &[("BackupPlanId", "paged"), ("BackupSetId", &ids[5])],
    )
    .await;
    assert_eq!(one["TotalElements"], 1);
    assert_eq!(one["Items"]["FullBackupFile"][0]["BackupSetName"], "full-5");

    let (_, incs) = call(
        &control,
        "DescribeIncrementBackupList",
        &[("BackupPlanId", "paged")],
    )
    .await;
    assert_eq!(incs["TotalElements"], 1);
    // As the documents show increments: the file name as BackupSetId, the
    // id CreateIncrementBackupSetDownload takes as BackupSetJobId.
    let item = &incs["Items"]["IncrementBackupFile"][0];
    assert_eq!(item["BackupSetId"], "mysql-bin.000054");
    assert_eq!(item["BackupSetJobId"], inc["BackupSetId"]);
    assert_eq!(item["BackupStatus"], "COMPLETED");
    let (status, created) = call(
        &control,
        "CreateIncrementBackupSetDownload",
        &[
            ("BackupSetId", item["BackupSetJobId"].as_str().unwrap()),
            ("BackupSetName", item["BackupSetId"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{created}");

    for (params, status, code) in [
        (vec![], 400, "MissingParameter.BackupPlanId"),
        (vec![("BackupPlanId", "nope")], 404, "BackupPlan.NotFound"),
        (
            vec![("BackupPlanId", "paged"), ("PageSize", "10")],
            400,
            "InvalidParameter.PageSize",
        ),
        (
            vec![("BackupPlanId", "paged"), ("PageNum", "-1")],
            400,
            "InvalidParameter.PageNum",
        ),
    ] {
        let (got, body) = call(&control, "DescribeFullBackupList", &params).await;
        assert_eq!(
            (got, body["Code"].as_str().unwrap()),
            (status, code),
            "{params:?}"
        );
    }
}

#[tokio::test]
async fn download_rules_refuse_bad_values_by_code() {
    let (dir, control) = started();
    let file = dir.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    let inc = add_set(
        &control.data_dir,
        "rules",
        "increment",
        Some("mysql-bin.1"),
        &file,
    );
    let (gateway, _) = register_gateway(&control, "gw-rules").await;
    let base = |extra: &[(&'static str, &'static str)]| {
        let mut p: Vec<(&str, String)> = vec![
            ("BackupPlanId", "rules".into()),
            ("OpenAutoDownload", "true".into()),
            ("BackupGatewayId", gateway.clone()),
            ("BackupSetDownloadDir", "backups".into()),
        ];
        for (k, v) in extra {
            p.retain(|(name, _)| name != k);
            if !v.is_empty() {
                p.push((k, v.to_string()));
            }
        }
        p
    };
    type Params = Vec<(&'static str, String)>;
    let cases: Vec<(Params, u16, &str)> = vec![
        (
            base(&[("BackupPlanId", "")]),
            400,
            "MissingParameter.BackupPlanId",
        ),
        (
            base(&[("BackupPlanId", "ghost")]),
            404,
            "BackupPlan.NotFound",
        ),
        (
            base(&[("BackupGatewayId", "99999")]),
            404,
            "BackupGateway.NotFound",
        ),
        (
            base(&[("BackupGatewayId", "")]),
            400,
            "MissingParameter.BackupGatewayId",
        ),
        (
            base(&[("BackupGatewayId", "abc")]),
            400,
            "InvalidParameter.BackupGatewayId",
        ),
        (
            base(&[("BackupSetDownloadTargetTypeLocation", "s3")]),
            400,
            "InvalidParameter.BackupSetDownloadTargetTypeLocation",
        ),
        (
            base(&[("BackupSetDownloadTargetType", "oss")]),
            400,
            "InvalidParameter.BackupSetDownloadTargetType",
        ),
        (
            base(&[("BackupSetDownloadDir", "../etc")]),
            400,
            "InvalidParameter.BackupSetDownloadDir",
        ),
        (
            base(&[("BackupSetDownloadDir", "a/../../b")]),
            400,
            "InvalidParameter.BackupSetDownloadDir",
        ),
        (
            base(&[("BackupSetDownloadDir", "/var/lib")]),
            400,
            "InvalidParameter.BackupSetDownloadDir",
        ),
        (
            base(&[("BackupSetDownloadDir", "a\u{1}b")]),
            400,
            "InvalidParameter.BackupSetDownloadDir",
        ),
        (
            base(&[("BackupSetDownloadDir", "")]),
            400,
            "MissingParameter.BackupSetDownloadDir",
        ),
        (
            base(&[("FullDataFormat", "CSV")]),
            400,
            "InvalidParameter.FullDataFormat",
        ),
        (
            base(&[("IncrementDataFormat", "XML")]),
            400,
            "InvalidParameter.IncrementDataFormat",
        ),
        (
            base(&[("OpenAutoDownload", "yes")]),
            400,
            "InvalidParameter.OpenAutoDownload",
        ),
    ];
    for (params, status, code) in cases {
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (got, body) = call(&control, "ModifyBackupSetDownloadRules", &borrowed).await;
        assert_eq!(
            (got, body["Code"].as_str().unwrap_or("")),
            (status, code),
            "{params:?}: {body}"
        );
    }
    let good = base(&[("BackupSetDownloadTargetTypeLocation", "nas")]);
    let borrowed: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = call(&control, "ModifyBackupSetDownloadRules", &borrowed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["BackupPlanId"], "rules");

    // Manual downloads check the set's kind and name.
    let inc_id = inc["BackupSetId"].as_str().unwrap();
    for (action, params, code) in [
        (
            "CreateFullBackupSetDownload",
            vec![("BackupSetId", inc_id)],
            "InvalidParameter.BackupSetId",
        ),
        (
            "CreateIncrementBackupSetDownload",
            vec![("BackupSetId", inc_id)],
            "MissingParameter.BackupSetName",
        ),
        (
            "CreateIncrementBackupSetDownload",
            vec![("BackupSetId", inc_id), ("BackupSetName", "other")],
            "InvalidParameter.BackupSetName",
        ),
        (
            "CreateIncrementBackupSetDownload",
            vec![("BackupSetId", "bsnone"), ("BackupSetName", "x")],
            "BackupSet.NotFound",
        ),
        (
            "CreateIncrementBackupSetDownload",
            vec![
                ("BackupSetId", inc_id),
                ("BackupSetName", "mysql-bin.1"),
                ("BackupSetDataFormat", "SQL"),
            ],
            "InvalidParameter.BackupSetDataFormat",
        ),
    ] {
        let (_, body) = call(&control, action, &params).await;
        assert_eq!(body["Code"], code, "{action} {params:?}");
    }
    let (status, body) = call(
        &control,
        "CreateIncrementBackupSetDownload",
        &[
            ("BackupSetId", inc_id),
            ("BackupSetName", "mysql-bin.1"),
            ("ClientToken", "t1"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, again) = call(
        &control,
        "CreateIncrementBackupSetDownload",
        &[
            ("BackupSetId", inc_id),
            ("BackupSetName", "mysql-bin.1"),
            ("ClientToken", "t1"),
        ],
    )
    .await;
    assert_eq!(
        again["BackupSetDownloadTaskId"],
        body["BackupSetDownloadTaskId"]
    );
}

#[tokio::test]
async fn auto_download_queues_new_sets_only_and_shows_task_progress() {
    let (dir, control) = started();
    let file = dir.path().join("f");
    std::fs::write(&file, b"older").unwrap();
    let older = add_set(&control.data_dir, "auto", "full", Some("older.xb"), &file);
    let (gateway, gateway_key) = register_gateway(&control, "gw-auto").await;
    let (status, body) = call(
        &control,
        "ModifyBackupSetDownloadRules",
        &[
            ("BackupPlanId", "auto"),
            ("OpenAutoDownload", "true"),
            ("BackupGatewayId", &gateway),
            ("BackupSetDownloadDir", "backups/db1"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The set the plan had is not queued; the next one is.
    let content = bytes(5000, 3);
    std::fs::write(&file, &content).unwrap();
    let newer = add_set(
        &control.data_dir,
        "auto",
        "increment",
        Some("mysql-bin.000054"),
        &file,
    );
    assert!(older.get("TaskId").is_none());
    let download_id = newer["BackupSetDownloadTaskId"]
        .as_str()
        .unwrap()
        .to_string();
    let list = |id: String| {
        let control = &control;
        async move {
            let (_, body) = call(
                control,
                "DescribeBackupSetDownloadTaskList",
                &[("BackupPlanId", "auto"), ("BackupSetDownloadTaskId", &id)],
            )
            .await;
            body["Items"]["BackupSetDownloadTaskDetail"][0].clone()
        }
    };
    let queued = list(download_id.clone()).await;
    assert_eq!(queued["BackupSetDownloadStatus"], "init", "{queued}");
    assert_eq!(queued["BackupSetDownloadWay"], "auto");
    assert_eq!(queued["BackupSetJobType"], "cbs_backup_sub_cont");
    assert_eq!(queued["BackupSetDownloadTargetType"], "agent");
    // An increment's code is its file name.
    assert_eq!(queued["BackupSetCode"], "mysql-bin.000054");
    assert_eq!(queued["BackupSetDownloadDir"], "backups/db1");
    assert_eq!(queued["BackupSetDataSize"], 5000);
    assert_eq!(queued["BackupGatewayId"].to_string(), gateway);
    let (_, all) = call(
        &control,
        "DescribeBackupSetDownloadTaskList",
        &[("BackupPlanId", "auto")],
    )
    .await;
    assert_eq!(
        all["TotalElements"], 1,
        "only the new set is downloaded: {all}"
    );
    // An id that is not one of ours names no download: an empty page.
    for params in [
        vec![("BackupSetDownloadTaskId", "dbstooi01exxxx")],
        vec![
            ("BackupPlanId", "auto"),
            ("BackupSetDownloadTaskId", "dbstooi01exxxx"),
        ],
    ] {
        let (status, none) = call(&control, "DescribeBackupSetDownloadTaskList", &params).await;
        assert_eq!(status, 200, "{params:?}: {none}");
        assert_eq!(none["TotalElements"], 0, "{none}");
        assert_eq!(
            none["Items"]["BackupSetDownloadTaskDetail"],
            serde_json::json!([])
        );
    }

    // The gateway leases it: a URL on this server, the size and checksum.
    let (_, polled) = control
        .call_as(
            &gateway_key,
            "GatewayPollTasks",
            &[("BackupGatewayId", &gateway), ("WaitSeconds", "5")],
        )
        .await;
    let task = &polled["Tasks"][0];
    let spec = &task["Spec"];
    assert_eq!(spec["Kind"], "DownloadBackupSet", "{polled}");
    assert_eq!(spec["BackupSetId"], newer["BackupSetId"]);
    assert_eq!(spec["SetKind"], "increment");
    assert_eq!(spec["SetName"], "mysql-bin.000054");
    assert_eq!(spec["Location"], "local");
    assert_eq!(spec["Dir"], "backups/db1");
    assert_eq!(spec["Size"], 5000);
    let mut crc = crc64fast::Digest::new();
    crc.write(&content);
    assert_eq!(spec["CRC64"], crc.sum64().to_string().as_str());
    let url = spec["URL"].as_str().unwrap();
    assert!(url.starts_with(&control.endpoint), "{url}");
    let fetched = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(fetched.as_ref(), &content[..]);

    // Progress as the agent reports it, then the end.
    let task_id = task["TaskId"].to_string();
    let report = |status: &'static str, extra: Vec<(&'static str, &'static str)>| {
        let control = &control;
        let gateway = gateway.clone();
        let gateway_key = gateway_key.clone();
        let task_id = task_id.clone();
        async move {
            let mut params = vec![
                ("BackupGatewayId", gateway.as_str()),
                ("TaskId", task_id.as_str()),
                ("Status", status),
            ];
            params.extend(extra);
            let (code, body) = control
                .call_as(&gateway_key, "GatewayReportTask", &params)
                .await;
            assert_eq!(code, 200, "{body}");
        }
    };
    report(
        "running",
        vec![(
            "Progress",
            r#"{"BytesDone":2500,"BytesTotal":5000,"Percent":50.0,"BytesPerSecond":1000}"#,
        )],
    )
    .await;
    let running = list(download_id.clone()).await;
    assert_eq!(running["BackupSetDownloadStatus"], "running");
    assert_eq!(running["BackupSetDownloadProgress"]["BytesDone"], 2500);
    assert_eq!(running["BackupSetDownloadProgress"]["Percent"], 50.0);
    assert_eq!(running["BackupSetDownloadProgress"]["BytesPerSecond"], 1000);

    report(
        "failed",
        vec![
            ("ErrCode", "Transfer.ChecksumMismatch"),
            ("ErrMessage", "checksum differs"),
        ],
    )
    .await;
    let failed = list(download_id).await;
    assert_eq!(failed["BackupSetDownloadStatus"], "failed");
    assert_eq!(failed["ErrMessage"], "checksum differs");
    assert_eq!(failed["ErrCode"], "Transfer.ChecksumMismatch");
    assert!(failed["BackupSetDownloadFinishTime"].as_i64().unwrap() > 0);

    // Auto download off: the next set is not queued.
    let (status, _) = call(
        &control,
        "ModifyBackupSetDownloadRules",
        &[("BackupPlanId", "auto"), ("OpenAutoDownload", "false")],
    )
    .await;
    assert_eq!(status, 200);
    let unqueued = add_set(&control.data_dir, "auto", "full", Some("later.xb"), &file);
    assert!(unqueued.get("TaskId").is_none(), "{unqueued}");

    // On again without the optional gateway and folder: the plan's own.
    let (status, body) = call(
        &control,
        "ModifyBackupSetDownloadRules",
        &[("BackupPlanId", "auto"), ("OpenAutoDownload", "true")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let requeued = add_set(&control.data_dir, "auto", "full", Some("again.xb"), &file);
    assert_eq!(
        requeued["BackupGatewayId"].to_string(),
        gateway,
        "{requeued}"
    );
    let again = list(
        requeued["BackupSetDownloadTaskId"]
            .as_str()
            .unwrap()
            .to_string(),
    )
    .await;
    assert_eq!(again["BackupSetDownloadDir"], "backups/db1", "{again}");
}

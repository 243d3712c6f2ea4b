"""Backup sets and their downloads as the official SDKs see them: sets added
with the admin CLI, listed; download rules; auto downloads queued for a
gateway and shown with their progress; manual downloads with a signed URL
that honours Range.

The gateway side is played here with signed CommonRequests (the same
GatewayHeartbeat / GatewayPollTasks / GatewayReportTask an agent sends), so
every status the list shows is one this test caused."""

import hashlib
import json
import urllib.request

import pytest
from alibabacloud_dbs20190306 import models
from aliyunsdkdbs.request.v20190306.CreateFullBackupSetDownloadRequest import CreateFullBackupSetDownloadRequest
from aliyunsdkdbs.request.v20190306.CreateIncrementBackupSetDownloadRequest import CreateIncrementBackupSetDownloadRequest
from aliyunsdkdbs.request.v20190306.DescribeBackupSetDownloadTaskListRequest import DescribeBackupSetDownloadTaskListRequest
from aliyunsdkdbs.request.v20190306.DescribeIncrementBackupListRequest import DescribeIncrementBackupListRequest
from aliyunsdkdbs.request.v20190306.ModifyBackupSetDownloadRulesRequest import ModifyBackupSetDownloadRulesRequest
from Tea.exceptions import TeaException

from harness import add_set, as_gateway, Control, legacy_call, tea_client


def crc64_xz(data):
    """CRC-64/ECMA-182 with the XZ parameters (OSS's crc64ecma), bit by bit."""
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xC96C5795D7870F42 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFFFFFFFFFF


@pytest.fixture
def control(tmp_path):
    control = Control(tmp_path / "control").start()
    yield control
    control.stop()


def fetch(url, headers=None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as response:
        return response.status, response.headers, response.read()


def content_of(size, seed):
    return bytes((i * 31 + seed) % 256 for i in range(size))


@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_auto_download_of_new_sets_through_the_sdk(tmp_path, control, algorithm):
    tea = tea_client(control, algorithm)
    older = add_set(control, tmp_path, "plan-auto", "full-1.xb", content_of(1000, 1), kind="full")
    gateway_id = as_gateway(control, "GatewayHeartbeat", Identifier="db-host-1", Region="cn-hangzhou")["BackupGatewayId"]

    body = tea.modify_backup_set_download_rules(models.ModifyBackupSetDownloadRulesRequest(
        backup_plan_id="plan-auto", open_auto_download=True, backup_gateway_id=int(gateway_id),
        backup_set_download_dir="backups/db1", backup_set_download_target_type="agent",
        backup_set_download_target_type_location="local", full_data_format="Native",
        increment_data_format="Native")).body
    assert body.success and body.backup_plan_id == "plan-auto"

    content = content_of(200_000, 9)
    newer = add_set(control, tmp_path, "plan-auto", "mysql-bin.000054", content, kind="increment")
    assert "TaskId" not in older and "TaskId" in newer

    fulls = tea.describe_full_backup_list(models.DescribeFullBackupListRequest(backup_plan_id="plan-auto")).body
    assert fulls.total_elements == 1
    [full] = fulls.items.full_backup_file
    assert (full.backup_set_id, full.backup_size, full.backup_status) == (older["BackupSetId"], 1000, "finish")
    assert full.finish_time >= full.start_time > 0

    def downloads():
        body = tea.describe_backup_set_download_task_list(
            models.DescribeBackupSetDownloadTaskListRequest(backup_plan_id="plan-auto")).body
        return body.items.backup_set_download_task_detail

    # Only the set added after the rule is queued.
    [queued] = downloads()
    assert queued.backup_set_id == newer["BackupSetId"]
    assert queued.backup_set_download_status == "init"
    assert queued.backup_set_download_way == "auto"
    assert queued.backup_set_job_type == "cbs_backup_sub_cont"
    assert queued.backup_set_download_target_type == "agent"
    assert queued.backup_set_code == "mysql-bin.000054"  # an increment's code: its file name
    assert queued.backup_set_download_dir == "backups/db1"
    assert queued.backup_set_data_size == 200_000
    assert queued.backup_gateway_id == int(gateway_id)
    assert queued.backup_set_download_create_time > 0

    # The gateway leases it and fetches it in two ranges, as a resume does.
    [task] = as_gateway(control, "GatewayPollTasks", BackupGatewayId=gateway_id, WaitSeconds=5)["Tasks"]
    spec = task["Spec"]
    assert (spec["Kind"], spec["SetKind"], spec["SetName"]) == ("DownloadBackupSet", "increment", "mysql-bin.000054")
    assert (spec["Location"], spec["Dir"], spec["Size"]) == ("local", "backups/db1", 200_000)
    status, headers, head = fetch(spec["URL"], {"Range": "bytes=0-99999"})
    assert status == 206 and len(head) == 100_000
    status, _, tail = fetch(spec["URL"], {"Range": "bytes=100000-", "If-Range": headers["ETag"]})
    assert status == 206
    assert head + tail == content
    assert spec["CRC64"] == str(crc64_xz(content))

    as_gateway(control, "GatewayReportTask", BackupGatewayId=gateway_id, TaskId=task["TaskId"], Status="running",
               Progress=json.dumps({"BytesDone": 100_000, "BytesTotal": 200_000, "Percent": 50.0, "BytesPerSecond": 4096}))
    [running] = downloads()
    assert running.backup_set_download_status == "running"
    # Progress rides beside the SDK fields: read it from the raw answer.
    request = DescribeBackupSetDownloadTaskListRequest()
    request.set_BackupPlanId("plan-auto")
    [raw] = legacy_call(control, request)["Items"]["BackupSetDownloadTaskDetail"]
    assert raw["BackupSetDownloadProgress"]["BytesDone"] == 100_000
    assert raw["BackupSetDownloadProgress"]["Percent"] == 50.0

    as_gateway(control, "GatewayReportTask", BackupGatewayId=gateway_id, TaskId=task["TaskId"], Status="finish",
               Result=json.dumps({"CRC64": spec["CRC64"]}))
    [done] = downloads()
    assert done.backup_set_download_status == "finish"
    assert done.backup_set_download_finish_time >= done.backup_set_download_create_time


def test_a_failed_download_shows_failed_and_its_error(tmp_path, control):
    gateway_id = as_gateway(control, "GatewayHeartbeat", Identifier="db-host-2", Region="cn-hangzhou")["BackupGatewayId"]
    add_set(control, tmp_path, "plan-fail", "seed.xb", b"seed", kind="full")
    request = ModifyBackupSetDownloadRulesRequest()
    request.set_BackupPlanId("plan-fail")
    request.set_OpenAutoDownload(True)
    request.set_BackupGatewayId(gateway_id)
    request.set_BackupSetDownloadDir("d")
    assert legacy_call(control, request)["BackupPlanId"] == "plan-fail"
    add_set(control, tmp_path, "plan-fail", "full-2.xb", b"payload", kind="full")
    [task] = as_gateway(control, "GatewayPollTasks", BackupGatewayId=gateway_id, WaitSeconds=5)["Tasks"]
    as_gateway(control, "GatewayReportTask", BackupGatewayId=gateway_id, TaskId=task["TaskId"], Status="failed",
               ErrCode="Transfer.ChecksumMismatch", ErrMessage="crc64 of the received bytes differs")
    body = tea_client(control).describe_backup_set_download_task_list(
        models.DescribeBackupSetDownloadTaskListRequest(backup_plan_id="plan-fail")).body
    [failed] = body.items.backup_set_download_task_detail
    assert failed.backup_set_download_status == "failed"
    assert failed.err_message == "crc64 of the received bytes differs"
    assert failed.backup_set_job_type == "cbs_backup_sub_full"


@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_manual_downloads_give_a_working_url(tmp_path, control, algorithm):
    tea = tea_client(control, algorithm)
    full_bytes, inc_bytes = content_of(5000, 2), content_of(3000, 4)
    full = add_set(control, tmp_path, "plan-man", "full.xb", full_bytes, kind="full")
    inc = add_set(control, tmp_path, "plan-man", "mysql-bin.000007", inc_bytes, kind="increment")

    incs = tea.describe_increment_backup_list(models.DescribeIncrementBackupListRequest(backup_plan_id="plan-man")).body
    [listed] = incs.items.increment_backup_file
    # As the documents list increments: BackupSetId is the file name, BackupSetJobId the
    # id CreateIncrementBackupSetDownload takes as BackupSetId (and the name as BackupSetName).
    assert (listed.backup_set_id, listed.backup_set_job_id) == ("mysql-bin.000007", inc["BackupSetId"])
    assert (listed.backup_size, listed.backup_status) == (3000, "COMPLETED")

    full_task = tea.create_full_backup_set_download(models.CreateFullBackupSetDownloadRequest(
        backup_set_id=full["BackupSetId"], backup_set_data_format="Native")).body.backup_set_download_task_id
    inc_task = tea.create_increment_backup_set_download(models.CreateIncrementBackupSetDownloadRequest(
        backup_set_id=listed.backup_set_job_id, backup_set_name=listed.backup_set_id)).body.backup_set_download_task_id

    for task_id, expected, job_type, code in [
            (full_task, full_bytes, "cbs_backup_sub_full", full["BackupSetId"]),
            (inc_task, inc_bytes, "cbs_backup_sub_cont", "mysql-bin.000007")]:
        body = tea.describe_backup_set_download_task_list(models.DescribeBackupSetDownloadTaskListRequest(
            backup_plan_id="plan-man", backup_set_download_task_id=task_id)).body
        [item] = body.items.backup_set_download_task_detail
        assert (item.backup_set_download_status, item.backup_set_download_way) == ("finish", "manual")
        assert item.backup_set_job_type == job_type
        assert item.backup_set_code == code
        assert item.backup_set_download_target_type is None  # only auto downloads have one
        assert item.backup_set_download_intranet_url == item.backup_set_download_internet_url
        status, headers, data = fetch(item.backup_set_download_internet_url)
        assert status == 200 and data == expected
        assert headers["ETag"] == f'"{hashlib.sha256(expected).hexdigest()}"'


def test_manual_downloads_through_the_legacy_sdk(tmp_path, control):
    full = add_set(control, tmp_path, "plan-legacy", "full.xb", b"0123456789", kind="full")
    inc = add_set(control, tmp_path, "plan-legacy", "mysql-bin.000001", b"binlog", kind="increment")
    request = CreateFullBackupSetDownloadRequest()
    request.set_BackupSetId(full["BackupSetId"])
    full_task = legacy_call(control, request)["BackupSetDownloadTaskId"]
    request = CreateIncrementBackupSetDownloadRequest()
    request.set_BackupSetId(inc["BackupSetId"])
    request.set_BackupSetName("mysql-bin.000001")
    legacy_call(control, request)
    request = DescribeIncrementBackupListRequest()
    request.set_BackupPlanId("plan-legacy")
    assert legacy_call(control, request)["Items"]["IncrementBackupFile"][0]["BackupSetName"] == "mysql-bin.000001"
    request = DescribeBackupSetDownloadTaskListRequest()
    request.set_BackupPlanId("plan-legacy")
    listed = legacy_call(control, request)
    assert listed["TotalElements"] == 2
    [item] = [i for i in listed["Items"]["BackupSetDownloadTaskDetail"] if i["BackupSetDownloadTaskId"] == full_task]
    status, _, part = fetch(item["BackupSetDownloadInternetUrl"], {"Range": "bytes=4-"})
    assert (status, part) == (206, b"456789")


@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_rules_are_refused_with_codes_through_the_sdk(tmp_path, control, algorithm):
    tea = tea_client(control, algorithm)
    add_set(control, tmp_path, "plan-bad", "x.xb", b"x", kind="full")
    gateway_id = int(as_gateway(control, "GatewayHeartbeat", Identifier="db-host-3", Region="cn-hangzhou")["BackupGatewayId"])
    for overrides, code in [
        ({"backup_set_download_dir": "../../etc"}, "InvalidParameter.BackupSetDownloadDir"),
        ({"backup_set_download_dir": "/var/backups"}, "InvalidParameter.BackupSetDownloadDir"),
        ({"backup_set_download_target_type_location": "oss"}, "InvalidParameter.BackupSetDownloadTargetTypeLocation"),
        ({"backup_gateway_id": 987654}, "BackupGateway.NotFound"),
        ({"backup_plan_id": "no-such-plan"}, "BackupPlan.NotFound"),
    ]:
        params = dict(backup_plan_id="plan-bad", open_auto_download=True, backup_gateway_id=gateway_id,
                      backup_set_download_dir="ok", backup_set_download_target_type="agent")
        params.update(overrides)
        with pytest.raises(TeaException) as refused:
            tea.modify_backup_set_download_rules(models.ModifyBackupSetDownloadRulesRequest(**params))
        assert refused.value.code == code, overrides

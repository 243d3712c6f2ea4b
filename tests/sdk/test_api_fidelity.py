"""The API as the documents and the official SDK models describe it: GetDBListFromAgent
by TaskId alone, SourceEndpointRegion checked against the gateway's region, and the
actions DescribeBackupPlanList, DescribeJobErrorCode and DescribeNodeCidrList, each
read through alibabacloud-dbs20190306's models."""

import uuid

import pytest
from alibabacloud_dbs20190306 import models
from aliyunsdkcore.acs_exception.exceptions import ServerException
from Tea.exceptions import TeaException

from harness import add_set, as_gateway, Control, Gateway, online_gateway_id, raw_call, tea_client, wait_until

REGION = "cn-hangzhou"


@pytest.fixture
def control(tmp_path):
    control = Control(tmp_path / "control", "--heartbeat-interval", "1").start()
    yield control
    control.stop()


def test_get_dblist_by_task_id_alone_and_its_error_code_explained(tmp_path, control):
    # An entry for a port where nothing listens: the task ends with a stable code.
    gateway = Gateway(tmp_path / "gw", control, identifier="fidelity-host", extra_toml="""
[[databases]]
type = "redis"
host = "127.0.0.1"
port = 9
""").start()
    try:
        dbs = tea_client(control)
        gateway_id = int(wait_until(lambda: online_gateway_id(dbs, "fidelity-host"), "the gateway to be ONLINE"))
        with pytest.raises(TeaException) as refused:
            dbs.create_get_dblist_from_agent_task(models.CreateGetDBListFromAgentTaskRequest(
                backup_gateway_id=gateway_id, database_type="Redis", source_endpoint_ip="127.0.0.1",
                source_endpoint_port=9, source_endpoint_region="cn-shanghai"))
        assert refused.value.code == "InvalidParameter.SourceEndpointRegion"
        assert REGION in refused.value.message
        task_id = dbs.create_get_dblist_from_agent_task(models.CreateGetDBListFromAgentTaskRequest(
            backup_gateway_id=gateway_id, database_type="Redis", source_endpoint_ip="127.0.0.1",
            source_endpoint_port=9, source_endpoint_region=REGION, client_token=uuid.uuid4().hex)).body.task_id

        # Only TaskId: the SDK marks BackupGatewayId and SourceEndpointRegion optional.
        def ended():
            body = dbs.get_dblist_from_agent(models.GetDBListFromAgentRequest(task_id=task_id)).body
            return body if body.err_code != "Task.Running" else None
        body = wait_until(ended, f"task {task_id} to end")
        assert (body.success, body.err_code) == (False, "DbConnectionRefused"), body.to_map()

        with pytest.raises(TeaException) as refused:
            dbs.get_dblist_from_agent(models.GetDBListFromAgentRequest(
                task_id=task_id, source_endpoint_region="ap-southeast-1"))
        assert refused.value.code == "InvalidParameter.SourceEndpointRegion"
        with pytest.raises(TeaException) as refused:
            dbs.get_dblist_from_agent(models.GetDBListFromAgentRequest(
                task_id=task_id, backup_gateway_id=gateway_id + 1))
        assert refused.value.code == "Task.NotFound"

        english = dbs.describe_job_error_code(models.DescribeJobErrorCodeRequest(task_id=str(task_id))).body.item
        assert (english.job_id, english.job_state, english.job_type) == (str(task_id), "failed", "GetDBList")
        assert (english.error_code, english.language) == ("DbConnectionRefused", "en")
        assert english.error_message == "The database refused the connection."
        chinese = dbs.describe_job_error_code(
            models.DescribeJobErrorCodeRequest(task_id=str(task_id), language="cn")).body.item
        assert (chinese.error_code, chinese.language) == ("DbConnectionRefused", "cn")
        assert chinese.error_message == "数据库拒绝连接。"
    finally:
        gateway.kill()


def test_job_error_codes_of_downloads(tmp_path, control):
    dbs = tea_client(control)
    gateway_id = as_gateway(control, "GatewayHeartbeat", Identifier="db-host-e", Region=REGION)["BackupGatewayId"]
    add_set(control, tmp_path, "plan-err", "seed.xb")
    dbs.modify_backup_set_download_rules(models.ModifyBackupSetDownloadRulesRequest(
        backup_plan_id="plan-err", open_auto_download=True, backup_gateway_id=int(gateway_id),
        backup_set_download_dir="d"))
    tasks = []
    for name, code in [("a.xb", "Transfer.ChecksumMismatch"), ("b.xb", "Agent.SomethingNew")]:
        add_set(control, tmp_path, "plan-err", name)
        [task] = as_gateway(control, "GatewayPollTasks", BackupGatewayId=gateway_id, WaitSeconds=5)["Tasks"]
        as_gateway(control, "GatewayReportTask", BackupGatewayId=gateway_id, TaskId=task["TaskId"],
                   Status="failed", ErrCode=code, ErrMessage=f"reported for {name}")
        tasks.append(str(task["TaskId"]))
    add_set(control, tmp_path, "plan-err", "c.xb")
    [queued] = as_gateway(control, "GatewayPollTasks", BackupGatewayId=gateway_id, WaitSeconds=5)["Tasks"]

    known = dbs.describe_job_error_code(models.DescribeJobErrorCodeRequest(task_id=tasks[0], language="cn")).body.item
    assert (known.error_code, known.job_type) == ("Transfer.ChecksumMismatch", "DownloadBackupSet")
    assert known.error_message == "接收数据的校验值与备份集校验值不一致。"
    # A code this control plane has no message for: the agent's own message.
    unknown = dbs.describe_job_error_code(models.DescribeJobErrorCodeRequest(task_id=tasks[1])).body.item
    assert (unknown.error_code, unknown.error_message) == ("Agent.SomethingNew", "reported for b.xb")
    running = dbs.describe_job_error_code(
        models.DescribeJobErrorCodeRequest(task_id=str(queued["TaskId"]))).body.item
    assert running.job_state == "running" and running.error_code is None

    for request, code in [
        (models.DescribeJobErrorCodeRequest(task_id="999999"), "Task.NotFound"),
        (models.DescribeJobErrorCodeRequest(task_id=tasks[0], language="fr"), "InvalidParameter.Language"),
        (models.DescribeJobErrorCodeRequest(), "MissingParameter.TaskId"),
    ]:
        with pytest.raises(TeaException) as refused:
            dbs.describe_job_error_code(request)
        assert refused.value.code == code


def test_backup_plans_are_listed_with_their_download_rules(tmp_path, control):
    dbs = tea_client(control)
    gateway_id = int(as_gateway(control, "GatewayHeartbeat", Identifier="db-host-p", Region=REGION)["BackupGatewayId"])
    for plan in ["plan-c", "plan-a", "plan-b"]:
        add_set(control, tmp_path, plan, f"{plan}.xb")
    dbs.modify_backup_set_download_rules(models.ModifyBackupSetDownloadRulesRequest(
        backup_plan_id="plan-b", open_auto_download=True, backup_gateway_id=gateway_id,
        backup_set_download_dir="backups/b", backup_set_download_target_type_location="nas"))

    body = dbs.describe_backup_plan_list(models.DescribeBackupPlanListRequest()).body
    assert (body.total_elements, body.total_pages, body.page_num, body.page_size) == (3, 1, 0, 30)
    plans = {p.backup_plan_id: p for p in body.items.backup_plan_detail}
    assert list(plans) == ["plan-a", "plan-b", "plan-c"]
    b = plans["plan-b"]
    assert b.open_backup_set_auto_download is True
    assert b.backup_set_download_gateway_id == gateway_id
    assert b.backup_set_download_dir == "backups/b"
    assert b.backup_set_download_target_type == "agent"
    assert (b.backup_set_download_full_data_format, b.backup_set_download_increment_data_format) == ("Native", "Native")
    assert (b.database_type, b.backup_plan_status) == ("MySQL", "running")
    assert b.backup_plan_create_time > 0
    a = plans["plan-a"]
    assert a.open_backup_set_auto_download is False and a.backup_set_download_gateway_id is None

    second = dbs.describe_backup_plan_list(models.DescribeBackupPlanListRequest(page_size=1, page_num=1)).body
    assert (second.total_elements, second.total_pages) == (3, 3)
    assert [p.backup_plan_id for p in second.items.backup_plan_detail] == ["plan-b"]
    some = dbs.describe_backup_plan_list(models.DescribeBackupPlanListRequest(backup_plan_id="plan-c,plan-x")).body
    assert [p.backup_plan_id for p in some.items.backup_plan_detail] == ["plan-c"]
    paused = dbs.describe_backup_plan_list(models.DescribeBackupPlanListRequest(backup_plan_status="pause")).body
    assert paused.total_elements == 0
    with pytest.raises(TeaException) as refused:
        dbs.describe_backup_plan_list(models.DescribeBackupPlanListRequest(page_size=101))
    assert refused.value.code == "InvalidParameter.PageSize"


def test_node_cidrs_come_from_the_address_the_control_plane_is_reached_at(tmp_path, control):
    dbs = tea_client(control)
    body = dbs.describe_node_cidr_list(models.DescribeNodeCidrListRequest(region=REGION)).body
    assert body.intranet_ips.intranet_ip == ["127.0.0.1/32"]
    assert body.internet_ips.internet_ip == []
    with pytest.raises(TeaException) as refused:
        dbs.describe_node_cidr_list(models.DescribeNodeCidrListRequest(region="mars-1"))
    assert refused.value.code == "InvalidParameter.Region"

    public = Control(tmp_path / "public", "--public-url", "https://203.0.113.7:8443").start()
    try:
        body = tea_client(public).describe_node_cidr_list(models.DescribeNodeCidrListRequest(region=REGION)).body
        assert body.internet_ips.internet_ip == ["203.0.113.7/32"]
        assert body.intranet_ips.intranet_ip == []
    finally:
        public.stop()


@pytest.mark.parametrize("action", ["DescribeBackupPlanList", "DescribeJobErrorCode", "DescribeNodeCidrList"])
def test_the_new_actions_are_public_ones(control, action):
    # A user key reaches the action (no task 999999: its own refusal, not an unknown action).
    try:
        assert raw_call(control, action, Region=REGION, TaskId="999999")["Success"] is True
    except TeaException as refused:
        assert (action, refused.code) == ("DescribeJobErrorCode", "Task.NotFound")
    with pytest.raises(ServerException) as refused:
        as_gateway(control, action, Region=REGION, TaskId="999999")
    assert refused.value.get_error_code() == "Forbidden.GatewayKey"

"""Backup plans through the official SDK against a real dbs-control: made,
configured, started, stopped, changed and released; what each action
refuses; the password a client sends kept nowhere; the scheduler firing a
window once, and once only after a restart across missed windows; and the
pre-checks of a real gateway against the test MariaDB.

Where no real gateway is needed, the gateway side is played with signed
gateway actions (GatewayHeartbeat / GatewayPollTasks / GatewayReportTask),
so every run status the lists show is one the test caused."""

import datetime
import json
import os
import secrets
import sqlite3
import subprocess
import time

import pytest
from alibabacloud_dbs20190306 import models
from Tea.exceptions import TeaException

from harness import Control, Gateway, add_set, as_gateway, raw_call, tea_client, wait_until

REGION = "cn-hangzhou"
DAYS = "Monday,Tuesday,Wednesday,Thursday,Friday,Saturday,Sunday"


def env(name):
    value = os.environ.get(name)
    assert value, f"{name} is not set: run the tests with /work/notes/sdk.sh or scripts/test.sh (they start MariaDB)"
    return value


@pytest.fixture
def control(tmp_path):
    control = Control(tmp_path / "control").start()
    yield control
    control.stop()


def register_gateway(control, identifier="db-host-1"):
    """A gateway registered by a heartbeat of the control plane's gateway key: its id."""
    answer = as_gateway(control, "GatewayHeartbeat", Identifier=identifier, Region=REGION)
    return int(answer["BackupGatewayId"])


def configure_request(plan_id, gateway_id, **overrides):
    fields = dict(
        backup_plan_id=plan_id, source_endpoint_instance_type="agent", backup_gateway_id=gateway_id,
        source_endpoint_ip="127.0.0.1", source_endpoint_port=3306, source_endpoint_user_name="backup",
        backup_objects=json.dumps([{"DBName": "shop", "TableIncludes": [{"TableName": "orders"}]}]),
        backup_period="Monday,Thursday", backup_start_time="02:30Z", backup_strategy_type="simple",
        backup_speed_limit=2048, backup_rate_limit=100, backup_retention_period=30,
        backup_plan_name="shop nightly")
    fields.update(overrides)
    return models.ConfigureBackupPlanRequest(**fields)


def create_plan(tea, method="logical"):
    return tea.create_backup_plan(models.CreateBackupPlanRequest(
        database_type="MySQL", backup_method=method, region=REGION, pay_type="postpay",
        instance_class="large", period="Month", used_time=1, storage_type="standard")).body.backup_plan_id


def plan_detail(control, plan_id):
    """The plan as DescribeBackupPlanList shows it, raw (fields beside the SDK's included)."""
    body = raw_call(control, "DescribeBackupPlanList", BackupPlanId=plan_id)
    [item] = body["Items"]["BackupPlanDetail"]
    return item


def full_list(control, plan_id, **params):
    return raw_call(control, "DescribeFullBackupList", BackupPlanId=plan_id, **params)["Items"]["FullBackupFile"]


def refused(call, code):
    with pytest.raises(TeaException) as error:
        call()
    assert error.value.code == code, error.value.message
    return error.value.message


def test_a_plan_is_created_configured_started_changed_stopped_and_released(control):
    tea = tea_client(control)
    gateway_id = register_gateway(control)
    plan_id = create_plan(tea)
    item = plan_detail(control, plan_id)
    assert (item["BackupPlanStatus"], item["BackupMethod"], item["DatabaseType"]) == ("wait", "logical", "MySQL")
    assert item["BackupPlanRegion"] == REGION
    assert "SourceEndpointIpPort" not in item and "NextFullBackupTime" not in item

    body = tea.configure_backup_plan(configure_request(plan_id, gateway_id)).body
    assert body.backup_plan_id == plan_id and body.success
    item = plan_detail(control, plan_id)
    assert item["BackupPlanStatus"] == "init"
    assert (item["SourceEndpointInstanceType"], item["SourceEndpointIpPort"], item["SourceEndpointUserName"]) == \
        ("agent", "127.0.0.1:3306", "backup")
    assert (item["BackupGatewayId"], item["BackupPeriod"], item["BackupStartTime"]) == (gateway_id, "Monday,Thursday", "02:30Z")
    assert (item["BackupRetentionPeriod"], item["BackupPlanName"], item["BackupSpeedLimit"], item["BackupRateLimit"]) == \
        (30, "shop nightly", 2048, 100)
    assert json.loads(item["BackupObjects"]) == [{"DBName": "shop", "TableIncludes": [{"TableName": "orders"}]}]
    # The SDK model reads the same plan.
    [model] = tea.describe_backup_plan_list(models.DescribeBackupPlanListRequest(
        backup_plan_id=plan_id)).body.items.backup_plan_detail
    assert (model.backup_plan_status, model.source_endpoint_ip_port, model.backup_gateway_id) == \
        ("init", "127.0.0.1:3306", gateway_id)

    # The pre-check is queued on the gateway and waits for it.
    progress = tea.describe_pre_check_progress_list(
        models.DescribePreCheckProgressListRequest(backup_plan_id=plan_id)).body
    assert (progress.status, progress.progress) == ("running", 0)
    [precheck] = as_gateway(control, "GatewayPollTasks", BackupGatewayId=gateway_id, WaitSeconds=1)["Tasks"]
    assert precheck["Spec"]["Kind"] == "PreCheck"
    assert (precheck["Spec"]["SourceEndpointIP"], precheck["Spec"]["SourceEndpointPort"]) == ("127.0.0.1", 3306)

    started = tea.start_backup_plan(models.StartBackupPlanRequest(backup_plan_id=plan_id)).body
    set_id = started.created_full_backupset_id
    assert set_id and started.backup_plan_id == plan_id
    item = plan_detail(control, plan_id)
    assert item["BackupPlanStatus"] == "running"
    assert item["NextFullBackupTime"] > time.time() * 1000
    [run] = full_list(control, plan_id)
    assert (run["BackupSetId"], run["BackupStatus"], run["BackupTrigger"]) == (set_id, "schedule", "manual")
    assert [r["BackupSetId"] for r in full_list(control, plan_id, BackupSetStatus="schedule")] == [set_id]

    # The gateway takes the backup task; progress shows its size so far.
    [task] = as_gateway(control, "GatewayPollTasks", BackupGatewayId=gateway_id, WaitSeconds=1)["Tasks"]
    spec = task["Spec"]
    # Its limit: the smaller of BackupSpeedLimit (2048) and BackupRateLimit (100).
    assert (spec["Kind"], spec["BackupSetId"], spec["BackupMethod"], spec["SpeedLimitKib"]) == \
        ("BackupDatabase", set_id, "logical", 100)
    as_gateway(control, "GatewayReportTask", BackupGatewayId=gateway_id, TaskId=task["TaskId"], Status="running",
               Progress=json.dumps({"BytesDone": 12345}))
    [run] = full_list(control, plan_id, ShowProgress="true")
    assert (run["BackupStatus"], run["BackupSize"]) == ("running", 12345)
    [sdk_run] = tea.describe_full_backup_list(models.DescribeFullBackupListRequest(
        backup_plan_id=plan_id, show_progress="true")).body.items.full_backup_file
    assert (sdk_run.backup_set_id, sdk_run.backup_status, sdk_run.backup_size) == (set_id, "running", 12345)
    assert "BackupSize" not in full_list(control, plan_id)[0]
    as_gateway(control, "GatewayReportTask", BackupGatewayId=gateway_id, TaskId=task["TaskId"], Status="failed",
               ErrCode="Backup.AccessDenied", ErrMessage="the backup user lacks RELOAD")
    [run] = full_list(control, plan_id)
    assert (run["BackupStatus"], run["ErrCode"], run["ErrMessage"]) == \
        ("stop", "Backup.AccessDenied", "the backup user lacks RELOAD")
    assert full_list(control, plan_id, BackupSetStatus="finish") == []
    assert full_list(control, plan_id, BackupSetStatus="running") == []
    assert [r["BackupSetId"] for r in full_list(control, plan_id, BackupSetStatus="stop")] == [set_id]

    # Changes.
    tea.modify_backup_plan_name(models.ModifyBackupPlanNameRequest(backup_plan_id=plan_id, backup_plan_name="renamed"))
    tea.modify_backup_objects(models.ModifyBackupObjectsRequest(
        backup_plan_id=plan_id, backup_objects=json.dumps([{"DBName": "crm"}])))
    before = plan_detail(control, plan_id)["NextFullBackupTime"]
    tea.modify_backup_strategy(models.ModifyBackupStrategyRequest(
        backup_plan_id=plan_id, backup_period=DAYS, backup_start_time="00:00Z", backup_strategy_type="simple"))
    tea.modify_backup_source_endpoint(models.ModifyBackupSourceEndpointRequest(
        backup_plan_id=plan_id, source_endpoint_instance_type="agent", backup_gateway_id=gateway_id,
        source_endpoint_ip="127.0.0.2", source_endpoint_port=3307, source_endpoint_user_name="other"))
    tea.modify_storage_strategy(models.ModifyStorageStrategyRequest(backup_plan_id=plan_id, backup_retention_period=7))
    item = plan_detail(control, plan_id)
    assert (item["BackupPlanName"], json.loads(item["BackupObjects"])) == ("renamed", [{"DBName": "crm"}])
    assert (item["BackupPeriod"], item["BackupStartTime"]) == (DAYS, "00:00Z")
    next_midnight = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0)
    assert item["NextFullBackupTime"] == int(next_midnight.timestamp() * 1000) != before
    assert (item["SourceEndpointIpPort"], item["SourceEndpointUserName"]) == ("127.0.0.2:3307", "other")
    assert item["BackupRetentionPeriod"] == 7
    # A new source is checked again.
    [recheck] = as_gateway(control, "GatewayPollTasks", BackupGatewayId=gateway_id, WaitSeconds=1)["Tasks"]
    assert (recheck["Spec"]["Kind"], recheck["Spec"]["SourceEndpointPort"]) == ("PreCheck", 3307)

    tea.stop_backup_plan(models.StopBackupPlanRequest(backup_plan_id=plan_id))
    item = plan_detail(control, plan_id)
    assert item["BackupPlanStatus"] == "stop" and "NextFullBackupTime" not in item
    stopped = raw_call(control, "DescribeBackupPlanList", BackupPlanStatus="stop")["Items"]["BackupPlanDetail"]
    assert [p["BackupPlanId"] for p in stopped] == [plan_id]
    named = raw_call(control, "DescribeBackupPlanList", BackupPlanName="renamed")["Items"]["BackupPlanDetail"]
    assert [p["BackupPlanId"] for p in named] == [plan_id]

    tea.release_backup_plan(models.ReleaseBackupPlanRequest(backup_plan_id=plan_id))
    item = plan_detail(control, plan_id)
    assert item["BackupPlanStatus"] == "release" and "NextFullBackupTime" not in item
    refused(lambda: tea.start_backup_plan(models.StartBackupPlanRequest(backup_plan_id=plan_id)),
            "BackupPlan.Released")
    refused(lambda: tea.modify_backup_plan_name(models.ModifyBackupPlanNameRequest(
        backup_plan_id=plan_id, backup_plan_name="again")), "BackupPlan.Released")
    # The failed run stays listed.
    assert [r["BackupSetId"] for r in full_list(control, plan_id)] == [set_id]


def test_create_and_start_makes_a_running_plan_with_a_backup_under_way(control):
    tea = tea_client(control)
    gateway_id = register_gateway(control)
    body = tea.create_and_start_backup_plan(models.CreateAndStartBackupPlanRequest(
        database_type="MySQL", backup_method="physical", region=REGION, pay_type="postpay",
        source_endpoint_instance_type="agent", backup_gateway_id=gateway_id,
        source_endpoint_ip="127.0.0.1", source_endpoint_port=3306,
        backup_period="Sunday", backup_start_time="03:00Z", backup_retention_period=14)).body
    assert body.backup_plan_id and body.create_backup_set
    item = plan_detail(control, body.backup_plan_id)
    assert (item["BackupPlanStatus"], item["BackupMethod"], item["BackupPeriod"]) == ("running", "physical", "Sunday")
    answer = raw_call(control, "DescribeFullBackupList", BackupPlanId=body.backup_plan_id)
    [run] = answer["Items"]["FullBackupFile"]
    assert run["BackupStatus"] == "schedule" and answer["TotalElements"] == 1
    kinds = sorted(t["Spec"]["Kind"] for t in as_gateway(
        control, "GatewayPollTasks", BackupGatewayId=gateway_id, WaitSeconds=1, MaxTasks=10)["Tasks"])
    assert kinds == ["BackupDatabase", "PreCheck"]


def test_a_create_repeated_with_its_client_token_makes_one_plan_and_starts_one_backup(control):
    tea = tea_client(control)
    gateway_id = register_gateway(control)

    def create(token):
        return tea.create_backup_plan(models.CreateBackupPlanRequest(
            database_type="MySQL", backup_method="logical", region=REGION, pay_type="postpay",
            client_token=token)).body.backup_plan_id

    first = create("retry-1")
    assert create("retry-1") == first
    assert create("retry-2") != first
    refused(lambda: create("x" * 65), "InvalidParameter.ClientToken")

    def create_and_start(token):
        return tea.create_and_start_backup_plan(models.CreateAndStartBackupPlanRequest(
            database_type="MySQL", backup_method="physical", region=REGION, pay_type="postpay",
            source_endpoint_instance_type="agent", backup_gateway_id=gateway_id,
            source_endpoint_ip="127.0.0.1", source_endpoint_port=3306,
            backup_period="Sunday", backup_start_time="03:00Z", client_token=token)).body

    started = create_and_start("retry-3")
    again = create_and_start("retry-3")
    assert again.backup_plan_id == started.backup_plan_id and started.create_backup_set
    assert not again.create_backup_set
    assert len(full_list(control, started.backup_plan_id)) == 1


def test_auto_start_backup_starts_the_plan(control):
    tea = tea_client(control)
    gateway_id = register_gateway(control)
    plan_id = create_plan(tea)
    answer = raw_call(control, "ConfigureBackupPlan", **{
        "BackupPlanId": plan_id, "SourceEndpointInstanceType": "agent", "BackupGatewayId": gateway_id,
        "SourceEndpointIP": "127.0.0.1", "SourceEndpointPort": 3306, "BackupStrategyType": "manual",
        "AutoStartBackup": "true"})
    assert answer["CreatedFullBackupsetId"]
    item = plan_detail(control, plan_id)
    # A manual strategy runs only when started: no next run.
    assert item["BackupPlanStatus"] == "running" and "NextFullBackupTime" not in item
    assert [r["BackupSetId"] for r in full_list(control, plan_id)] == [answer["CreatedFullBackupsetId"]]


def test_what_the_plan_actions_refuse(control):
    tea = tea_client(control)
    gateway_id = register_gateway(control)
    for db_type in ["MSSQL", "Redis"]:
        message = refused(lambda: tea.create_backup_plan(models.CreateBackupPlanRequest(
            database_type=db_type, backup_method="logical")), "UnsupportedDatabaseType.Backup")
        assert "SQL Server and Redis backups are not supported by this gateway yet" in message
    refused(lambda: tea.create_backup_plan(models.CreateBackupPlanRequest(
        database_type="MySQL", backup_method="duplication")), "UnsupportedBackupMethod")
    refused(lambda: tea.create_and_start_backup_plan(models.CreateAndStartBackupPlanRequest(
        database_type="MySQL", backup_method="logical", enable_backup_log=True,
        source_endpoint_instance_type="agent", backup_gateway_id=gateway_id, source_endpoint_ip="127.0.0.1",
        source_endpoint_port=3306, backup_period="Monday", backup_start_time="01:00Z")), "UnsupportedBackupLog")
    refused(lambda: tea.create_and_start_backup_plan(models.CreateAndStartBackupPlanRequest(
        database_type="Redis", backup_method="logical")), "UnsupportedDatabaseType.Backup")
    plans_before = raw_call(control, "DescribeBackupPlanList")["TotalElements"]

    plan_id = create_plan(tea)
    physical_id = create_plan(tea, method="physical")
    cases = [
        (dict(enable_backup_log=True), "UnsupportedBackupLog"),
        (dict(source_endpoint_instance_type="RDS"), "UnsupportedInstanceType"),
        (dict(backup_gateway_id=gateway_id + 100), "BackupGateway.NotFound"),
        (dict(backup_period="Funday"), "InvalidParameter.BackupPeriod"),
        (dict(backup_start_time="25:00Z"), "InvalidParameter.BackupStartTime"),
        (dict(backup_start_time="02:30+08"), "InvalidParameter.BackupStartTime"),
        (dict(backup_objects='{"DBName": "shop"}'), "InvalidParameter.BackupObjects"),
        (dict(backup_objects='[{"DBName": ""}]'), "InvalidParameter.BackupObjects"),
        (dict(backup_strategy_type="hourly"), "InvalidParameter.BackupStrategyType"),
        (dict(backup_retention_period=0), "InvalidParameter.BackupRetentionPeriod"),
        (dict(source_endpoint_ip="db host;"), "InvalidParameter.SourceEndpointIP"),
    ]
    for overrides, code in cases:
        refused(lambda: tea.configure_backup_plan(configure_request(plan_id, gateway_id, **overrides)), code)
    # A physical backup takes the whole instance.
    refused(lambda: tea.configure_backup_plan(configure_request(physical_id, gateway_id)),
            "InvalidParameter.BackupObjects")
    # Nothing was configured by the refused calls.
    assert plan_detail(control, plan_id)["BackupPlanStatus"] == "wait"
    refused(lambda: tea.start_backup_plan(models.StartBackupPlanRequest(backup_plan_id=plan_id)),
            "BackupPlan.NotConfigured")
    refused(lambda: tea.start_backup_plan(models.StartBackupPlanRequest(backup_plan_id="dbsnothere")),
            "BackupPlan.NotFound")
    assert raw_call(control, "DescribeBackupPlanList")["TotalElements"] == plans_before + 2

    # Gateway keys call only the gateway actions.
    with pytest.raises(Exception) as error:
        as_gateway(control, "CreateBackupPlan", DatabaseType="MySQL", BackupMethod="logical")
    assert "Forbidden.GatewayKey" in str(error.value)
    with pytest.raises(Exception) as error:
        as_gateway(control, "StartBackupPlan", BackupPlanId=plan_id)
    assert "Forbidden.GatewayKey" in str(error.value)


def test_plans_of_the_admin_cli_keep_listing_and_cannot_be_configured(tmp_path, control):
    tea = tea_client(control)
    gateway_id = register_gateway(control)
    set_id = add_set(control, tmp_path, "cli-plan", "full-1.xb")["BackupSetId"]
    item = plan_detail(control, "cli-plan")
    assert (item["BackupPlanStatus"], item["BackupPlanName"]) == ("running", "cli-plan")
    assert "SourceEndpointIpPort" not in item and "BackupMethod" not in item
    [listed] = full_list(control, "cli-plan")
    assert (listed["BackupSetId"], listed["BackupStatus"]) == (set_id, "finish")
    assert "BackupSetExpiredTime" not in listed
    refused(lambda: tea.configure_backup_plan(configure_request("cli-plan", gateway_id)), "BackupPlan.NotConfigurable")
    # Retention applies to its sets: the expiry shows, and an expired set goes.
    tea.modify_storage_strategy(models.ModifyStorageStrategyRequest(backup_plan_id="cli-plan", backup_retention_period=3))
    [listed] = full_list(control, "cli-plan")
    assert listed["BackupSetExpiredTime"] == listed["EndTime"] + 3 * 86_400_000


def test_expired_sets_are_deleted_by_the_scheduler(tmp_path, control):
    tea = tea_client(control)
    add_set(control, tmp_path, "old-plan", "full-1.xb")
    tea.modify_storage_strategy(models.ModifyStorageStrategyRequest(backup_plan_id="old-plan", backup_retention_period=1))
    [listed] = full_list(control, "old-plan")
    control.stop()
    db = sqlite3.connect(control.data_dir / "dbs-control.sqlite3")
    with db:
        db.execute("UPDATE backup_sets SET end_ms = end_ms - 2 * 86400000 WHERE id = ?", (listed["BackupSetId"],))
    db.close()
    control.start()
    wait_until(lambda: full_list(control, "old-plan") == [], "the expired set to be deleted")
    assert not (control.data_dir / "sets" / listed["BackupSetId"]).exists()


def test_the_password_a_client_sends_is_kept_nowhere(control):
    tea = tea_client(control)
    gateway_id = register_gateway(control)
    password = "pw-" + secrets.token_hex(12)
    plan_id = create_plan(tea)
    tea.configure_backup_plan(configure_request(plan_id, gateway_id, source_endpoint_password=password))
    tea.modify_backup_source_endpoint(models.ModifyBackupSourceEndpointRequest(
        backup_plan_id=plan_id, source_endpoint_instance_type="agent", backup_gateway_id=gateway_id,
        source_endpoint_ip="127.0.0.1", source_endpoint_port=3306, source_endpoint_password=password))
    tea.create_and_start_backup_plan(models.CreateAndStartBackupPlanRequest(
        database_type="MySQL", backup_method="logical", source_endpoint_instance_type="agent",
        backup_gateway_id=gateway_id, source_endpoint_ip="127.0.0.1", source_endpoint_port=3306,
        source_endpoint_password=password, backup_strategy_type="manual"))
    assert password not in json.dumps(plan_detail(control, plan_id))
    control.stop()
    for path in control.data_dir.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), f"the password is in {path}"
    assert password not in control.log.read_text()


def window_ahead(seconds):
    """A weekly window (its day and HH:mmZ) a minute or so ahead, and its time in ms."""
    at = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)).replace(
        second=0, microsecond=0)
    return at.strftime("%A"), at.strftime("%H:%MZ"), int(at.timestamp() * 1000)


def schedule_runs(control, plan_id):
    return [r for r in full_list(control, plan_id) if r.get("BackupTrigger") == "schedule"]


def fail_started_backup(control, gateway_id):
    """As the gateway: takes the backup StartBackupPlan queued and fails it,
    so the plan's windows fire (one that comes while a backup of the plan is
    queued or running is skipped)."""
    tasks = as_gateway(control, "GatewayPollTasks", BackupGatewayId=gateway_id, WaitSeconds=1, MaxTasks=4)["Tasks"]
    [backup] = [t for t in tasks if t["Spec"]["Kind"] == "BackupDatabase"]
    as_gateway(control, "GatewayReportTask", BackupGatewayId=gateway_id, TaskId=backup["TaskId"], Status="failed",
               ErrCode="Backup.Failed", ErrMessage="failed by the test")


def test_a_window_a_minute_ahead_fires_once(control):
    tea = tea_client(control)
    gateway_id = register_gateway(control)
    plan_id = create_plan(tea)
    day, start_time, window_ms = window_ahead(70)
    tea.configure_backup_plan(configure_request(
        plan_id, gateway_id, backup_objects=None, backup_period=day, backup_start_time=start_time))
    tea.start_backup_plan(models.StartBackupPlanRequest(backup_plan_id=plan_id))
    assert plan_detail(control, plan_id)["NextFullBackupTime"] == window_ms
    assert schedule_runs(control, plan_id) == []
    fail_started_backup(control, gateway_id)
    wait_until(lambda: plan_detail(control, plan_id)["NextFullBackupTime"] > window_ms,
               "the window to fire", timeout=150, step=1)
    # The next window is a week later; the one that fired queued one run.
    assert plan_detail(control, plan_id)["NextFullBackupTime"] == window_ms + 7 * 86_400_000
    [run] = schedule_runs(control, plan_id)
    assert run["BackupStatus"] == "schedule"
    assert len(full_list(control, plan_id)) == 2  # the manual one at start, and this one


def test_a_restart_across_missed_windows_runs_the_backup_once(control):
    tea = tea_client(control)
    gateway_id = register_gateway(control)
    plan_id = create_plan(tea)
    # Daily, two hours ago: the next window is about 22 hours ahead.
    at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=2)
    tea.configure_backup_plan(configure_request(
        plan_id, gateway_id, backup_objects=None, backup_period=DAYS, backup_start_time=at.strftime("%H:%MZ")))
    tea.start_backup_plan(models.StartBackupPlanRequest(backup_plan_id=plan_id))
    fail_started_backup(control, gateway_id)
    upcoming = plan_detail(control, plan_id)["NextFullBackupTime"]
    control.stop()
    # Down for three days: three daily windows missed.
    db = sqlite3.connect(control.data_dir / "dbs-control.sqlite3")
    with db:
        db.execute("UPDATE backup_plans SET next_run_ms = ? WHERE id = ?", (upcoming - 3 * 86_400_000, plan_id))
    db.close()
    control.start()
    wait_until(lambda: plan_detail(control, plan_id)["NextFullBackupTime"] == upcoming,
               "the missed window to fire", timeout=60, step=0.5)
    [run] = schedule_runs(control, plan_id)
    assert run["BackupStatus"] == "schedule"
    # Later ticks queue nothing more.
    time.sleep(11)
    assert len(schedule_runs(control, plan_id)) == 1
    tasks = as_gateway(control, "GatewayPollTasks", BackupGatewayId=gateway_id, WaitSeconds=1, MaxTasks=10)["Tasks"]
    backups = [t["Spec"]["BackupSetId"] for t in tasks if t["Spec"]["Kind"] == "BackupDatabase"]
    assert backups == [run["BackupSetId"]]  # the window's (the started one failed above)


def mysql_admin(sql):
    subprocess.run(
        ["mariadb", "--no-defaults", "-h", env("DBS_TEST_MYSQL_HOST"), "-P", env("DBS_TEST_MYSQL_PORT"),
         "-u", env("DBS_TEST_MYSQL_ADMIN_USER"), f"-p{env('DBS_TEST_MYSQL_ADMIN_PASSWORD')}", "-e", sql],
        check=True)


def online_id(tea, identifier):
    body = tea.describe_backup_gateway_list(
        models.DescribeBackupGatewayListRequest(region=REGION, identifier=identifier)).body
    items = body.items.backup_gateway if body.items else []
    return items[0].backup_gateway_id if items and items[0].backup_gateway_status == "ONLINE" else None


def real_gateway(tmp_path, control, identifier, user, password):
    databases = f"""
[[databases]]
type = "mysql"
host = "127.0.0.1"
port = {env('DBS_TEST_MYSQL_PORT')}
user = "{user}"
password = "{password}"
"""
    gateway = Gateway(tmp_path / identifier, control, identifier=identifier, extra_toml=databases).start()
    gateway_id = wait_until(lambda: online_id(tea_client(control), identifier), f"gateway {identifier} to be ONLINE")
    return gateway, int(gateway_id)


def precheck_of(tea, plan_id):
    body = wait_until(lambda: (lambda b: b if b.status != "running" else None)(
        tea.describe_pre_check_progress_list(models.DescribePreCheckProgressListRequest(backup_plan_id=plan_id)).body),
        "the pre-check to end")
    return body


def test_pre_checks_of_a_real_gateway_against_mariadb(tmp_path, monkeypatch):
    control = Control(tmp_path / "control", "--heartbeat-interval", "1").start()
    weak_user, weak_password = f"weak_{secrets.token_hex(3)}", secrets.token_hex(12)
    mysql_admin(f"CREATE USER '{weak_user}'@'127.0.0.1' IDENTIFIED BY '{weak_password}';")
    admin = (env("DBS_TEST_MYSQL_ADMIN_USER"), env("DBS_TEST_MYSQL_ADMIN_PASSWORD"))
    gateways = []
    try:
        tea = tea_client(control)
        strong, strong_id = real_gateway(tmp_path, control, "strong", *admin)
        gateways.append(strong)
        weak, weak_id = real_gateway(tmp_path, control, "weak", weak_user, weak_password)
        gateways.append(weak)
        # A host without the backup tool: the agent's PATH holds nothing.
        with monkeypatch.context() as m:
            empty = tmp_path / "empty-path"
            empty.mkdir()
            m.setenv("PATH", str(empty))
            toolless, toolless_id = real_gateway(tmp_path, control, "toolless", *admin)
        gateways.append(toolless)
        port = int(env("DBS_TEST_MYSQL_PORT"))

        def checked(gateway_id, port=port, method="logical"):
            """The pre-check of a new plan: the SDK's answer, and the raw items (with ErrCode)."""
            plan_id = create_plan(tea, method=method)
            tea.configure_backup_plan(configure_request(
                plan_id, gateway_id, backup_objects=None, source_endpoint_port=port))
            body = precheck_of(tea, plan_id)
            raw = raw_call(control, "DescribePreCheckProgressList", BackupPlanId=plan_id)
            codes = {i["Item"]: i.get("ErrCode") for i in raw["Items"]["PreCheckProgressDetail"]}
            return body, codes

        def states(body):
            return [(i.item, i.state) for i in body.items.pre_check_progress_detail]

        passed, codes = checked(strong_id)
        assert (passed.status, passed.progress) == ("finish", 100), passed
        assert states(passed) == [("Connectivity", "finish"), ("Privileges", "finish")]
        assert codes == {"Connectivity": None, "Privileges": None}
        physical, _ = checked(strong_id, method="physical")
        assert physical.status == "finish", physical
        assert states(physical) == [("Connectivity", "finish"), ("Privileges", "finish"),
                                    ("BackupTool", "finish"), ("DataDirectory", "finish")]

        failed, codes = checked(weak_id)
        assert failed.status == "failed"
        assert states(failed) == [("Connectivity", "finish"), ("Privileges", "failed")]
        assert codes["Privileges"] == "Backup.AccessDenied"
        assert "RELOAD" in failed.items.pre_check_progress_detail[1].err_msg

        no_tool, codes = checked(toolless_id, method="physical")
        assert no_tool.status == "failed"
        assert states(no_tool) == [("Connectivity", "finish"), ("Privileges", "finish"), ("BackupTool", "failed")]
        assert codes["BackupTool"] == "Backup.ToolMissing"

        # An endpoint without a [[databases]] entry fails the whole check with its code.
        unknown, codes = checked(strong_id, port=9)
        assert unknown.status == "failed"
        assert states(unknown) == [("PreCheck", "failed")]
        assert codes == {"PreCheck": "EndpointNotConfigured"}
        assert "[[databases]]" in unknown.items.pre_check_progress_detail[0].err_msg
    finally:
        for gateway in gateways:
            gateway.terminate()
        control.stop()
        mysql_admin(f"DROP USER '{weak_user}'@'127.0.0.1';")

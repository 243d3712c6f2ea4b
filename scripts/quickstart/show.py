"""What the quickstart shows, through the official SDK: the gateway ONLINE, and
the databases it lists on this host.

Reads DBS_ENDPOINT, DBS_ACCESS_KEY_ID, DBS_ACCESS_KEY_SECRET and the demo
database ports (from .quickstart/env)."""

import hashlib
import os
import sys
import time
import uuid
from pathlib import Path

from alibabacloud_dbs20190306 import models
from alibabacloud_dbs20190306.client import Client
from alibabacloud_tea_openapi import models as open_api_models

REGION = "cn-hangzhou"


def client():
    endpoint = os.environ["DBS_ENDPOINT"].removeprefix("http://")
    return Client(open_api_models.Config(
        access_key_id=os.environ["DBS_ACCESS_KEY_ID"],
        access_key_secret=os.environ["DBS_ACCESS_KEY_SECRET"],
        endpoint=endpoint, protocol="http", region_id=REGION))


def wait_for_gateway(dbs, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = dbs.describe_backup_gateway_list(models.DescribeBackupGatewayListRequest(region=REGION)).body
        online = [g for g in (body.items.backup_gateway if body.items else []) if g.backup_gateway_status == "ONLINE"]
        if online:
            return online[0]
        time.sleep(0.5)
    raise SystemExit("the gateway did not come ONLINE; see .quickstart/gateway.log")


def list_databases(dbs, gateway_id, db_type, port):
    task_id = dbs.create_get_dblist_from_agent_task(models.CreateGetDBListFromAgentTaskRequest(
        backup_gateway_id=gateway_id, database_type=db_type, source_endpoint_ip="127.0.0.1",
        source_endpoint_port=port, source_endpoint_region=REGION, client_token=uuid.uuid4().hex)).body.task_id
    print(f"\nCreateGetDBListFromAgentTask({db_type}, 127.0.0.1:{port}) -> TaskId {task_id}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = dbs.get_dblist_from_agent(models.GetDBListFromAgentRequest(
            backup_gateway_id=gateway_id, task_id=task_id)).body
        if body.err_code != "Task.Running":
            break
        time.sleep(0.2)
    if not body.success:
        raise SystemExit(f"GetDBListFromAgent: {body.err_code}: {body.err_message}")
    print(f"GetDBListFromAgent -> DbList.dbName = {body.db_list.db_name}")


def overview(dbs):
    gateway = wait_for_gateway(dbs)
    print("DescribeBackupGatewayList:")
    for key, value in sorted(gateway.to_map().items()):
        print(f"  {key:26} {value}")
    gateway_id = int(gateway.backup_gateway_id)
    list_databases(dbs, gateway_id, "MySQL", int(os.environ["DBS_DEMO_MYSQL_PORT"]))
    list_databases(dbs, gateway_id, "Redis", int(os.environ["DBS_DEMO_REDIS_PORT"]))


def enable_auto_download(dbs, plan):
    gateway = wait_for_gateway(dbs)
    dbs.modify_backup_set_download_rules(models.ModifyBackupSetDownloadRulesRequest(
        backup_plan_id=plan, open_auto_download=True, backup_gateway_id=int(gateway.backup_gateway_id),
        full_data_format="Native", increment_data_format="Native", backup_set_download_dir="backups",
        backup_set_download_target_type="agent", backup_set_download_target_type_location="local"))
    print(f"ModifyBackupSetDownloadRules({plan}): auto download on, to the gateway's local target, dir 'backups'")


def wait_download(dbs, plan, root):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = dbs.describe_backup_set_download_task_list(
            models.DescribeBackupSetDownloadTaskListRequest(backup_plan_id=plan)).body
        items = body.items.backup_set_download_task_detail if body.items else []
        if items and items[0].backup_set_download_status in ("finish", "failed"):
            break
        time.sleep(0.5)
    else:
        raise SystemExit("the download did not end; see .quickstart/gateway.log")
    task = items[0]
    print("DescribeBackupSetDownloadTaskList:")
    for key, value in sorted(task.to_map().items()):
        print(f"  {key:32} {value}")
    if task.backup_set_download_status != "finish":
        raise SystemExit("the download failed; see .quickstart/gateway.log")
    for path in sorted(Path(root).rglob("*")):
        if path.is_file():
            print(f"\nsha256 {hashlib.sha256(path.read_bytes()).hexdigest()}  {path}")


def plan_backup(dbs, method, objects=None):
    """A backup plan for the demo MySQL on the gateway's host, with auto
    download on, started: the set it takes is uploaded to dbs-control and
    then downloaded into the gateway's local target. Prints the plan and
    the set; returns the plan id."""
    gateway = wait_for_gateway(dbs)
    gateway_id = int(gateway.backup_gateway_id)
    plan = dbs.create_backup_plan(models.CreateBackupPlanRequest(
        region=REGION, database_type="MySQL", backup_method=method, instance_class="small",
        period="Month", used_time=1, pay_type="PostPaid", client_token=uuid.uuid4().hex)).body.backup_plan_id
    print(f"CreateBackupPlan(MySQL, {method}) -> BackupPlanId {plan}")
    body = dbs.configure_backup_plan(models.ConfigureBackupPlanRequest(
        backup_plan_id=plan, backup_plan_name=f"demo-{method}", source_endpoint_instance_type="agent",
        backup_gateway_id=gateway_id, source_endpoint_region=REGION, source_endpoint_ip="127.0.0.1",
        source_endpoint_port=int(os.environ["DBS_DEMO_MYSQL_PORT"]), source_endpoint_user_name="root",
        backup_objects=objects, backup_period="Sunday", backup_start_time="03:00Z",
        backup_strategy_type="simple", backup_retention_period=7)).body
    if not body.success:
        raise SystemExit(f"ConfigureBackupPlan: {body.err_code}: {body.err_message}")
    print(f"ConfigureBackupPlan: the MySQL at 127.0.0.1 on gateway {gateway_id}, weekly on Sunday 03:00Z")
    enable_auto_download(dbs, plan)
    body = dbs.start_backup_plan(models.StartBackupPlanRequest(backup_plan_id=plan)).body
    if not body.success:
        raise SystemExit(f"StartBackupPlan: {body.err_code}: {body.err_message}")
    set_id = body.created_full_backupset_id
    print(f"StartBackupPlan -> CreatedFullBackupsetId {set_id}")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        body = dbs.describe_full_backup_list(models.DescribeFullBackupListRequest(
            backup_plan_id=plan, backup_set_id=set_id, show_progress=True)).body
        items = body.items.full_backup_file if body.items else []
        if items and items[0].backup_status not in ("schedule", "running"):
            break
        time.sleep(0.5)
    else:
        raise SystemExit("the backup did not end; see .quickstart/gateway.log")
    print("DescribeFullBackupList:")
    for key, value in sorted(items[0].to_map().items()):
        print(f"  {key:24} {value}")
    if items[0].backup_status != "finish":
        raise SystemExit("the backup failed; see .quickstart/gateway.log")
    for plan_info in dbs.describe_backup_plan_list(models.DescribeBackupPlanListRequest(
            backup_plan_id=plan, region=REGION)).body.items.backup_plan_detail:
        print(f"DescribeBackupPlanList: {plan_info.backup_plan_id} {plan_info.backup_plan_status}, "
              f"{plan_info.backup_method}, weekly {plan_info.backup_period} {plan_info.backup_start_time}")
    return plan


def main():
    dbs = client()
    what = sys.argv[1] if len(sys.argv) > 1 else "overview"
    if what == "overview":
        overview(dbs)
    elif what == "enable-auto-download":
        enable_auto_download(dbs, sys.argv[2])
    elif what == "plan-backup":
        plan = plan_backup(dbs, sys.argv[2], sys.argv[4] if len(sys.argv) > 4 else None)
        wait_download(dbs, plan, sys.argv[3])
    elif what == "wait-download":
        wait_download(dbs, sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(f"unknown step {what}")


if __name__ == "__main__":
    main()

"""What the quickstart shows, through the official SDK: the gateway ONLINE, and
the databases it lists on this host.

Reads DBS_ENDPOINT, DBS_ACCESS_KEY_ID, DBS_ACCESS_KEY_SECRET and the demo
database ports (from .quickstart/env)."""

import os
import time
import uuid

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


def main():
    dbs = client()
    gateway = wait_for_gateway(dbs)
    print("DescribeBackupGatewayList:")
    for key, value in sorted(gateway.to_map().items()):
        print(f"  {key:26} {value}")
    gateway_id = int(gateway.backup_gateway_id)
    list_databases(dbs, gateway_id, "MySQL", int(os.environ["DBS_DEMO_MYSQL_PORT"]))
    list_databases(dbs, gateway_id, "Redis", int(os.environ["DBS_DEMO_REDIS_PORT"]))


if __name__ == "__main__":
    main()

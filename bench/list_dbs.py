"""Driven by bench/list-dbs.sh: times get-DB-list round trips through the
official SDK, reads pickup latency from dbs-control's store, and times the
MariaDB CLI on the same server for reference."""

import os
import sqlite3
import statistics
import subprocess
import time
import uuid

from alibabacloud_dbs20190306 import models
from alibabacloud_dbs20190306.client import Client
from alibabacloud_tea_openapi import models as open_api_models

REGION = "cn-hangzhou"
ROUNDS = 100


def client():
    return Client(open_api_models.Config(
        access_key_id=os.environ["DBS_ACCESS_KEY_ID"], access_key_secret=os.environ["DBS_ACCESS_KEY_SECRET"],
        endpoint=os.environ["DBS_ENDPOINT"], protocol="http", region_id=REGION))


def gateway_id(dbs):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = dbs.describe_backup_gateway_list(models.DescribeBackupGatewayListRequest(region=REGION)).body
        items = body.items.backup_gateway if body.items else []
        if items and items[0].backup_gateway_status == "ONLINE":
            return int(items[0].backup_gateway_id)
        time.sleep(0.2)
    raise SystemExit("the gateway did not come ONLINE")


def round_trip(dbs, gw):
    start = time.perf_counter()
    task_id = dbs.create_get_dblist_from_agent_task(models.CreateGetDBListFromAgentTaskRequest(
        backup_gateway_id=gw, database_type="MySQL", source_endpoint_ip="127.0.0.1",
        source_endpoint_port=int(os.environ["DBS_TEST_MYSQL_PORT"]), source_endpoint_region=REGION,
        client_token=uuid.uuid4().hex)).body.task_id
    while True:
        body = dbs.get_dblist_from_agent(models.GetDBListFromAgentRequest(backup_gateway_id=gw, task_id=task_id)).body
        if body.err_code != "Task.Running":
            break
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    assert body.success, body.to_map()
    return task_id, elapsed, len(body.db_list.db_name)


def mariadb_cli():
    start = time.perf_counter()
    out = subprocess.run(
        ["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", os.environ["DBS_TEST_MYSQL_PORT"],
         "-u", os.environ["DBS_TEST_MYSQL_ADMIN_USER"], f"-p{os.environ['DBS_TEST_MYSQL_ADMIN_PASSWORD']}",
         "-N", "-e", "SHOW DATABASES"], check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, len(out.split())


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    dbs = client()
    gw = gateway_id(dbs)
    round_trip(dbs, gw)  # warm-up: connections, caches
    trips = [round_trip(dbs, gw) for _ in range(ROUNDS)]
    cli = [mariadb_cli() for _ in range(ROUNDS)]
    with sqlite3.connect(os.environ["DBS_DB_FILE"]) as db:
        ids = ",".join(str(t[0]) for t in trips)
        pickup = [r[0] for r in db.execute(f"SELECT started_ms - created_ms FROM tasks WHERE id IN ({ids})")]
    rt = [t[1] * 1000 for t in trips]
    cl = [c[0] * 1000 for c in cli]
    print(f"\nget-DB-list over {ROUNDS} tasks, {trips[0][2]} user databases (SHOW DATABASES: {cli[0][1]} incl. system):")
    print(f"  {'':44} {'p50':>9} {'p99':>9} {'mean':>9}")
    print(f"  {'SDK round trip Create -> GetDBListFromAgent':44} {pct(rt, 50):8.1f}ms {pct(rt, 99):8.1f}ms {statistics.mean(rt):8.1f}ms")
    print(f"  {'task pickup (queued -> leased by the agent)':44} {pct(pickup, 50):8.1f}ms {pct(pickup, 99):8.1f}ms {statistics.mean(pickup):8.1f}ms")
    print(f"  {'mariadb -e SHOW DATABASES (reference)':44} {pct(cl, 50):8.1f}ms {pct(cl, 99):8.1f}ms {statistics.mean(cl):8.1f}ms")
    print("  (the round trip includes the SDK's client-side polling every 5 ms and the lister's")
    print("   information_schema query for sizes and table counts; SHOW DATABASES reads names only)")


if __name__ == "__main__":
    main()

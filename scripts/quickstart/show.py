"""What the quickstart shows: the gateway as the official SDK sees it.

Reads DBS_ENDPOINT, DBS_ACCESS_KEY_ID and DBS_ACCESS_KEY_SECRET (from
.quickstart/env)."""

import os
import time

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


def main():
    dbs = client()
    gateway = wait_for_gateway(dbs)
    print("DescribeBackupGatewayList:")
    for key, value in sorted(gateway.to_map().items()):
        print(f"  {key:26} {value}")


if __name__ == "__main__":
    main()

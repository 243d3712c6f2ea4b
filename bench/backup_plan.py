"""Driven by bench/backup-gateway.sh: one full backup of the bench MariaDB
through a backup plan on dbs-control, run by the agent and uploaded to
dbs-control, then downloaded to a file for the script to check.

Usage: backup_plan.py physical|logical OUT_FILE [BACKUP_OBJECTS]
Prints "SECONDS BYTES": from the plan's creation (CreateBackupPlan,
ConfigureBackupPlan, StartBackupPlan: a few ms) until DescribeFullBackupList
shows the set finished (polled every 0.1 s), and the set's size. Exits 3 when
dbs-control has no backup plans (CreateBackupPlan unknown)."""

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sdk"))
from harness import online_gateway_id, tea_client, wait_until  # noqa: E402
from plans import download, finished_set, start_plan  # noqa: E402


def main():
    method, out = sys.argv[1], sys.argv[2]
    objects = sys.argv[3] if len(sys.argv) > 3 else None
    control = SimpleNamespace(endpoint=os.environ["DBS_ENDPOINT"], key_id=os.environ["DBS_ACCESS_KEY_ID"],
                              key_secret=os.environ["DBS_ACCESS_KEY_SECRET"])
    dbs = tea_client(control)
    gateway_id = int(wait_until(lambda: online_gateway_id(dbs, os.environ["DBS_GATEWAY_IDENTIFIER"]),
                                "the gateway to be ONLINE"))
    started = time.monotonic()
    try:
        plan_id, set_id = start_plan(dbs, gateway_id, method, os.environ["DBS_BENCH_MYSQL_PORT"], objects)
    except Exception as e:  # the SDK raises its own ClientException
        if getattr(e, "code", None) == "InvalidAction.NotFound":
            print("dbs-control has no CreateBackupPlan yet", file=sys.stderr)
            sys.exit(3)
        raise
    item = finished_set(dbs, plan_id, set_id, timeout=3600.0, step=0.1)
    seconds = time.monotonic() - started
    written = download(dbs, plan_id, set_id, out)
    assert written == item.backup_size, f"downloaded {written} bytes of {item.backup_size}"
    print(f"{seconds:.2f} {item.backup_size}")


if __name__ == "__main__":
    main()

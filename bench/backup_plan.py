"""Driven by bench/backup-gateway.sh: one full backup of the bench MariaDB
through a backup plan on dbs-control, run by the agent and uploaded to
dbs-control, then downloaded to a file for the script to check.

Usage: backup_plan.py physical|logical OUT_FILE [BACKUP_OBJECTS]
Prints "SECONDS BYTES CPU": from the plan's creation (CreateBackupPlan,
ConfigureBackupPlan, StartBackupPlan: a few ms) until DescribeFullBackupList
shows the set finished (polled every 0.1 s), the set's size, and the CPU
seconds the processes of DBS_BENCH_CPU_PIDS (agent, dbs-control, server;
their waited-for children's too) used meanwhile, as TOTAL:A:B:C."""

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sdk"))
from harness import online_gateway_id, tea_client, wait_until  # noqa: E402
from plans import download, finished_set, start_plan  # noqa: E402


def cpu_seconds(pids):
    """Each process's CPU seconds so far (user and system, children's too)."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds = []
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        seconds.append(sum(int(f) for f in fields[11:15]) / tick)
    return seconds


def main():
    method, out = sys.argv[1], sys.argv[2]
    objects = sys.argv[3] if len(sys.argv) > 3 else None
    control = SimpleNamespace(endpoint=os.environ["DBS_ENDPOINT"], key_id=os.environ["DBS_ACCESS_KEY_ID"],
                              key_secret=os.environ["DBS_ACCESS_KEY_SECRET"])
    dbs = tea_client(control)
    gateway_id = int(wait_until(lambda: online_gateway_id(dbs, os.environ["DBS_GATEWAY_IDENTIFIER"]),
                                "the gateway to be ONLINE"))
    pids = os.environ["DBS_BENCH_CPU_PIDS"].split()
    cpu_before = cpu_seconds(pids)
    started = time.monotonic()
    plan_id, set_id = start_plan(dbs, gateway_id, method, os.environ["DBS_BENCH_MYSQL_PORT"], objects)
    item = finished_set(dbs, plan_id, set_id, timeout=3600.0, step=0.1)
    seconds = time.monotonic() - started
    cpu = [after - before for after, before in zip(cpu_seconds(pids), cpu_before)]
    written = download(dbs, plan_id, set_id, out)
    assert written == item.backup_size, f"downloaded {written} bytes of {item.backup_size}"
    split = ":".join(f"{c:.2f}" for c in cpu)
    print(f"{seconds:.2f} {item.backup_size} {sum(cpu):.2f}:{split}")


if __name__ == "__main__":
    main()

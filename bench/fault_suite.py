#!/usr/bin/env python3
"""The fault suite: real dbs-control and dbs-gateway processes, sets
auto-downloaded into local, FTP and MinIO targets while things break, and a
table of what came out. Run it through bench/fault-suite.sh, which starts the
FTP and S3 servers; it needs root (tmpfs mounts).

Cases:
  agent-kill    20 sets over local, FTP and MinIO; the agent is SIGKILLed
                every 3 to 8 s and restarted until every set has ended
  control-down  dbs-control SIGKILLed mid-download, down for DOWN_SECS (120)
  target-full   a local root on a small tmpfs: one set fits, one does not
  nas-unmounted the NAS root (a tmpfs) unmounted mid-download
  crash-loop    one set; the agent killed 8 times, each time after the
                lapsed lease was offered again and the run made progress

Columns: tried; finished with equal checksums; failed (their codes); ran
more than once (a task started twice in one agent process, or finished
twice); partials left (files at the targets other than the finished sets,
and apart from the partials of sets that did not finish, which are kept to
resume from when the set is queued again);
orphaned multipart uploads (s3s-fs staging files: those of sets that did
not finish are kept to resume too); reports lost (a task the
agent ended that dbs-control does not show ended, or never ended).
"""

import hashlib
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sdk"))

from harness import Control, Gateway, raw_call, tea_client, wait_until  # noqa: E402
from test_agent_download import add_set, auto_download, content  # noqa: E402

from alibabacloud_dbs20190306 import models  # noqa: E402

DOWN_SECS = int(os.environ.get("DOWN_SECS", "120"))
WORK = Path(os.environ.get("FAULT_DIR", "/tmp/dbs-fault-suite")) / uuid.uuid4().hex[:8]
LEASE = "5"
RNG = random.Random(int(os.environ.get("SEED", "12")))
# Download statuses of an ended task.
ENDED = ("finish", "failed")


def env(name):
    return os.environ[name]


def remote_targets(run):
    return f"""
[targets.ftp]
host = "{env('DBS_TEST_FTP_HOST')}"
port = {env('DBS_TEST_FTP_PORT')}
user = "{env('DBS_TEST_FTP_USER')}"
password = "{env('DBS_TEST_FTP_PASSWORD')}"
root = "fault-{run}"

[targets.minio]
endpoint = "{env('DBS_TEST_S3_ENDPOINT')}"
bucket = "{env('DBS_TEST_S3_BUCKET')}"
region = "{env('DBS_TEST_S3_REGION')}"
access_key_id = "{env('DBS_TEST_S3_ACCESS_KEY')}"
secret_access_key = "{env('DBS_TEST_S3_SECRET_KEY')}"
prefix = "fault-{run}"
path_style = true
part_size_mib = 5
"""


def mount_tmpfs(path, size):
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)


def umount(path):
    subprocess.run(["umount", "-l", str(path)], check=False)


class Case:
    """One control plane, one agent, and the sets queued for it."""

    def __init__(self, name, targets, bandwidth="16MiB", max_concurrent=2):
        self.name = name
        self.dir = WORK / name
        self.dir.mkdir(parents=True)
        self.control = Control(self.dir / "control", "--heartbeat-interval", "1",
                               "--task-lease", LEASE).start()
        toml = (f"[log]\nformat = \"json\"\n[transfer]\nprogress_interval_secs = 1\n"
                f"max_concurrent = {max_concurrent}\nbandwidth_limit_bytes_per_sec = \"{bandwidth}\"\n{targets}")
        self.gateway = Gateway(self.dir / "gw", self.control, identifier=f"fault-{name}",
                               extra_toml=toml).start()
        self.dbs = tea_client(self.control)
        self.gateway_id = wait_until(self.online, "the gateway to be ONLINE")
        self.sets = []  # (plan, location, added JSON, final path)
        self.plans = set()

    def online(self):
        body = self.dbs.describe_backup_gateway_list(
            models.DescribeBackupGatewayListRequest(region="cn-hangzhou")).body
        items = body.items.backup_gateway if body.items else []
        return int(items[0].backup_gateway_id) if items and items[0].backup_gateway_status == "ONLINE" else None

    def queue(self, location, root, size, count):
        plan = f"plan-{location}"
        if plan not in self.plans:
            auto_download(self.control, self.dbs, self.gateway_id, location, plan=plan)
            self.plans.add(plan)
        for _ in range(count):
            name = f"{self.name}-{location}-{len(self.sets)}.xb"
            added = add_set(self.control, self.dir, plan, "full", content(size, name), name)
            self.sets.append((plan, added, root / "backups" / plan / "full" / name))

    def statuses(self):
        out = {}
        for plan in self.plans:
            items = raw_call(self.control, "DescribeBackupSetDownloadTaskList", BackupPlanId=plan,
                             PageSize=100)["Items"]["BackupSetDownloadTaskDetail"]
            for item in items:
                out[item["BackupSetId"]] = item
        return out

    def all_ended(self):
        statuses = self.statuses()
        return len(statuses) == len(self.sets) and all(
            s["BackupSetDownloadStatus"] in ENDED for s in statuses.values())

    def agent_events(self):
        """(process number, message, task id) of each agent log line."""
        events, process = [], 0
        for line in self.gateway.log.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            # A field named `message` (an error's text) can shadow the event's.
            message = next((m for m in ("task started", "task finished", "task failed",
                                        "dbs-gateway starting") if f'"message":"{m}"' in line), "")
            if message == "dbs-gateway starting":
                process += 1
            task = (event.get("span") or {}).get("task_id")
            events.append((process, message, task))
        return events

    def row(self, roots, s3_data=None):
        statuses = self.statuses()
        finished = failed = 0
        codes = Counter()
        for _, added, path in self.sets:
            status = statuses.get(added["BackupSetId"], {})
            if status.get("BackupSetDownloadStatus") == "finish":
                if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == added["SHA256"]:
                    finished += 1
            elif status.get("BackupSetDownloadStatus") in ENDED:
                failed += 1
                codes[status.get("ErrCode", "?")] += 1
        events = self.agent_events()
        starts = Counter((p, t) for p, m, t in events if m == "task started")
        finishes = Counter(t for _, m, t in events if m == "task finished")
        ran_twice = len({t for (_, t), n in starts.items() if n > 1} | {t for t, n in finishes.items() if n > 1})
        finals = {path for _, _, path in self.sets}
        failed_names = {path.name for _, added, path in self.sets
                        if statuses.get(added["BackupSetId"], {}).get("BackupSetDownloadStatus") != "finish"}
        leftovers = [p for root in roots if root.exists() for p in root.rglob("*")
                     if p.is_file() and p not in finals]
        # A set that did not finish keeps its partial, to resume from when it
        # is queued again; anything else left is a stray.
        kept = [p for p in leftovers if any(p.name.endswith(n) for n in failed_names)]
        partials = [p for p in leftovers if p not in kept]
        uploads = len(list(s3_data.glob(".upload-*.json"))) if s3_data else 0
        # An unfinished set's upload is kept (its marker names it) to resume.
        kept_uploads = len([p for p in s3_data.rglob(".dbs-part.*")
                            if any(p.name.endswith(n) for n in failed_names)]) if s3_data else 0
        orphans = max(0, uploads - kept_uploads)
        ended_by_agent = {t for _, m, t in events if m in ("task finished", "task failed")}
        ended_tasks = {s.get("TaskId") for s in statuses.values()
                       if s.get("BackupSetDownloadStatus") in ENDED}
        never_ended = len(self.sets) - len(ended_tasks)
        lost = len({t for t in ended_by_agent if t is not None} - ended_tasks) + never_ended
        return {
            "case": self.name, "tried": len(self.sets), "finished equal": finished,
            "failed": f"{failed} {dict(codes) if codes else ''}".strip(), "ran twice": ran_twice,
            "partials left": f"{len(partials)} (+{len(kept)} kept to resume)" if kept else len(partials),
            "orphaned uploads": f"{orphans} (+{kept_uploads} kept to resume)" if kept_uploads else orphans,
            "reports lost": lost,
            "partial files": [str(p) for p in partials][:5],
        }

    def wait(self, timeout):
        try:
            wait_until(self.all_ended, f"{self.name}: every set to end", timeout=timeout, step=1)
        except AssertionError as error:
            print(f"  {error}", flush=True)

    def close(self):
        if self.gateway.proc.poll() is None:
            self.gateway.kill()
        if self.control.proc.poll() is None:
            self.control.stop()


def restart_agent(case):
    case.gateway.kill()
    time.sleep(0.3)
    case.gateway.start()


def agent_kill(run):
    local = WORK / "agent-kill-local"
    local.mkdir(parents=True)
    case = Case("agent-kill", f"[targets.local]\nroot = \"{local}\"\n{remote_targets(run)}",
                bandwidth="4MiB")
    ftp = Path(env("DBS_TEST_FTP_ROOT")) / f"fault-{run}"
    s3 = Path(env("DBS_TEST_S3_ROOT")) / env("DBS_TEST_S3_BUCKET") / f"fault-{run}"
    case.queue("local", local, 24 << 20, 7)
    case.queue("ftp", ftp, 24 << 20, 7)
    case.queue("minio", s3, 24 << 20, 6)
    kills = 0
    deadline = time.monotonic() + 600
    while not case.all_ended() and time.monotonic() < deadline and kills < 40:
        time.sleep(RNG.uniform(3.0, 8.0))
        restart_agent(case)
        kills += 1
    case.wait(300)
    row = case.row([local, ftp], s3_data=Path(env("DBS_TEST_S3_ROOT")))
    row["case"] += f" ({kills} kills)"
    case.close()
    return row


def control_down():
    local = WORK / "control-down-local"
    local.mkdir(parents=True)
    case = Case("control-down", f"[targets.local]\nroot = \"{local}\"\n", bandwidth="8MiB")
    case.queue("local", local, 32 << 20, 4)
    time.sleep(3)
    case.control.proc.kill()
    case.control.proc.wait()
    time.sleep(DOWN_SECS)
    case.control.start()
    case.wait(300)
    row = case.row([local])
    row["case"] += f" ({DOWN_SECS} s)"
    case.close()
    return row


def target_full():
    local = WORK / "target-full-local"
    mount_tmpfs(local, "24m")
    try:
        case = Case("target-full", f"[targets.local]\nroot = \"{local}\"\n", bandwidth="0")
        case.queue("local", local, 8 << 20, 1)
        case.queue("local", local, 32 << 20, 1)
        case.wait(120)
        row = case.row([local])
        case.close()
        return row
    finally:
        umount(local)


def nas_unmounted():
    nas = WORK / "nas-unmounted-nas"
    mount_tmpfs(nas, "256m")
    case = Case("nas-unmounted", f"[targets.nas]\nroot = \"{nas}\"\n", bandwidth="8MiB")
    case.queue("nas", nas, 64 << 20, 1)
    time.sleep(2)
    umount(nas)
    case.wait(120)
    row = case.row([nas])
    row["written to the root disk"] = sum(1 for p in nas.rglob("*") if p.is_file())
    case.close()
    return row


def crash_loop():
    """Each kill comes after the lease lapsed and the task was offered again,
    so every kill costs an attempt: 8 kills is more than a task's 5."""
    local = WORK / "crash-loop-local"
    local.mkdir(parents=True)
    case = Case("crash-loop", f"[targets.local]\nroot = \"{local}\"\n", bandwidth="2MiB")
    case.queue("local", local, 48 << 20, 1)
    time.sleep(2)
    restart_agent(case)
    for _ in range(7):
        time.sleep(int(LEASE) + 2.5)
        restart_agent(case)
    case.wait(300)
    row = case.row([local])
    row["case"] += " (8 kills)"
    case.close()
    return row


COLUMNS = ["case", "tried", "finished equal", "failed", "ran twice", "partials left",
           "orphaned uploads", "reports lost"]


def main():
    assert os.geteuid() == 0, "the fault suite mounts tmpfs file systems: run it as root"
    run = uuid.uuid4().hex[:8]
    cases = os.environ.get("CASES", "agent-kill,control-down,target-full,nas-unmounted,crash-loop").split(",")
    runners = {"agent-kill": lambda: agent_kill(run), "control-down": control_down,
               "target-full": target_full, "nas-unmounted": nas_unmounted, "crash-loop": crash_loop}
    rows = []
    for name in cases:
        print(f"== {name}", flush=True)
        row = runners[name]()
        print(f"  {row}", flush=True)
        rows.append(row)
    print()
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    for row in rows:
        if "written to the root disk" in row:
            print(f"{row['case']}: files written under the unmounted NAS root: {row['written to the root disk']}")


if __name__ == "__main__":
    main()

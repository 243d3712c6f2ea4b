"""Backup sets auto-downloaded by a real agent, end to end through the official
SDK: into a local dir and a NAS root (a tmpfs mounted by the test), resumed after
a SIGKILL, refused when the NAS is not mounted, failed with its code and no file
at the final name when the bytes are corrupt or the disk is full."""

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from alibabacloud_dbs20190306 import models

from harness import add_set, binary, Control, Gateway, raw_call, tea_client, wait_until

PLAN = "dbsplan01"


def must_be_root():
    assert os.geteuid() == 0, "these tests mount tmpfs file systems: run scripts/test.sh as root"


@pytest.fixture
def mounts():
    mounted = []

    def mount(path, size):
        must_be_root()
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def content(size, seed):
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def start(tmp_path, targets, transfer="", lease="60"):
    control = Control(tmp_path / "control", "--heartbeat-interval", "1", "--task-lease", lease).start()
    gateway = Gateway(tmp_path / "gw", control, identifier="dbhost",
                      extra_toml=f"[transfer]\nprogress_interval_secs = 1\n{transfer}\n{targets}").start()
    dbs = tea_client(control)

    def online():
        body = dbs.describe_backup_gateway_list(models.DescribeBackupGatewayListRequest(region="cn-hangzhou")).body
        items = body.items.backup_gateway if body.items else []
        return int(items[0].backup_gateway_id) if items and items[0].backup_gateway_status == "ONLINE" else None
    return control, gateway, dbs, wait_until(online, "the gateway to be ONLINE")


def auto_download(control, dbs, gateway_id, location, plan=PLAN, directory="backups"):
    subprocess.run([binary("dbs-control"), "backup-plan", "add", "--data-dir", str(control.data_dir),
                    "--plan", plan], check=True, capture_output=True)
    dbs.modify_backup_set_download_rules(models.ModifyBackupSetDownloadRulesRequest(
        backup_plan_id=plan, open_auto_download=True, backup_gateway_id=gateway_id,
        full_data_format="Native", increment_data_format="Native", backup_set_download_dir=directory,
        backup_set_download_target_type="agent", backup_set_download_target_type_location=location))


def downloads(dbs, plan=PLAN):
    body = dbs.describe_backup_set_download_task_list(
        models.DescribeBackupSetDownloadTaskListRequest(backup_plan_id=plan, page_size=100)).body
    return body.items.backup_set_download_task_detail if body.items else []


def ended(dbs, count, plan=PLAN, timeout=90):
    def check():
        items = downloads(dbs, plan)
        done = [d for d in items if d.backup_set_download_status in ("finish", "failed")]
        return done if len(done) == count else None
    return wait_until(check, f"{count} downloads of {plan} to end", timeout=timeout)


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_full_and_increment_sets_land_in_local_and_nas(tmp_path, mounts):
    nas = mounts(tmp_path / "nas", "64m")
    local = tmp_path / "local"
    local.mkdir()
    control, gateway, dbs, gw = start(
        tmp_path, f'[targets.local]\nroot = "{local}"\n[targets.nas]\nroot = "{nas}"\n')
    try:
        auto_download(control, dbs, gw, "local", plan="plan-local")
        auto_download(control, dbs, gw, "nas", plan="plan-nas")
        sets = {}
        for plan in ("plan-local", "plan-nas"):
            sets[plan] = [
                add_set(control, tmp_path, plan, f"{plan}-full.xb", content(3 << 20, plan + "f"), kind="full"),
                add_set(control, tmp_path, plan, "mysql-bin.000054", content(1 << 20, plan + "i"), kind="increment"),
            ]
        for plan, root in (("plan-local", local), ("plan-nas", nas)):
            done = ended(dbs, 2, plan)
            assert {d.backup_set_download_status for d in done} == {"finish"}, [d.to_map() for d in done]
            assert {d.backup_set_download_way for d in done} == {"auto"}
            full, inc = sets[plan]
            assert sha256(root / "backups" / plan / "full" / f"{plan}-full.xb") == full["SHA256"]
            assert sha256(root / "backups" / plan / "increment" / "mysql-bin.000054") == inc["SHA256"]
            assert not list(root.rglob(".dbs-part.*"))
    finally:
        gateway.kill()
        control.stop()


def test_agent_killed_midway_resumes_without_starting_over(tmp_path):
    local = tmp_path / "local"
    local.mkdir()
    size = 8 << 20
    control, gateway, dbs, gw = start(
        tmp_path, f'[targets.local]\nroot = "{local}"\n',
        transfer='bandwidth_limit_bytes_per_sec = "1MiB"', lease="3")
    try:
        auto_download(control, dbs, gw, "local")
        added = add_set(control, tmp_path, PLAN, "big.xb", content(size, "kill"), kind="full")
        part = local / "backups" / PLAN / "full" / ".dbs-part.big.xb"
        wait_until(lambda: part.exists() and part.stat().st_size > size // 4, "a quarter of the set on disk", timeout=60)
        gateway.kill()
        kept = part.stat().st_size
        gateway.start()
        [done] = ended(dbs, 1, timeout=120)
        assert done.backup_set_download_status == "finish", done.to_map()
        final = local / "backups" / PLAN / "full" / "big.xb"
        assert sha256(final) == added["SHA256"]
        served = [e for e in control.log_events("serving set bytes") if e.get("set") == added["BackupSetId"]]
        assert len(served) >= 2, served
        assert served[0]["start"] == 0
        # The second agent asked for the rest only: the server sent less than twice the set.
        assert served[-1]["start"] >= kept - (1 << 20) > 0, (served, kept)
        assert sum(e["bytes"] for e in served[1:]) <= size - served[-1]["start"] + size // 2
    finally:
        gateway.kill()
        control.stop()


def test_corrupt_bytes_fail_with_their_code_and_leave_nothing(tmp_path):
    local = tmp_path / "local"
    local.mkdir()
    control, gateway, dbs, gw = start(tmp_path, f'[targets.local]\nroot = "{local}"\n')
    try:
        auto_download(control, dbs, gw, "local")
        # Stop the agent so the set's bytes can be spoiled before it fetches them.
        assert gateway.terminate() == 0
        added = add_set(control, tmp_path, PLAN, "bad.xb", content(1 << 20, "corrupt"), kind="full")
        stored = [p for p in control.data_dir.rglob("*") if p.is_file() and p.stat().st_size == 1 << 20]
        assert len(stored) == 1, stored
        data = bytearray(stored[0].read_bytes())
        data[1000] ^= 0xFF
        stored[0].write_bytes(bytes(data))
        gateway.start()
        [done] = ended(dbs, 1)
        assert done.backup_set_download_status == "failed"
        [item] = raw_call(control, "DescribeBackupSetDownloadTaskList",
                          BackupPlanId=PLAN)["Items"]["BackupSetDownloadTaskDetail"]
        assert item["ErrCode"] == "Transfer.ChecksumMismatch", item
        target = local / "backups" / PLAN / "full"
        assert not (target / "bad.xb").exists()
        assert not list(local.rglob(".dbs-part.*"))
        assert added["BackupSetId"] == done.backup_set_id
    finally:
        gateway.kill()
        control.stop()


def test_an_unmounted_nas_root_is_refused(tmp_path):
    nas = tmp_path / "not-a-mount"
    nas.mkdir()
    control, gateway, dbs, gw = start(tmp_path, f'[targets.nas]\nroot = "{nas}"\n')
    try:
        auto_download(control, dbs, gw, "nas")
        add_set(control, tmp_path, PLAN, "x.xb", content(64 << 10, "nas"), kind="full")
        [done] = ended(dbs, 1)
        assert done.backup_set_download_status == "failed"
        [item] = raw_call(control, "DescribeBackupSetDownloadTaskList",
                          BackupPlanId=PLAN)["Items"]["BackupSetDownloadTaskDetail"]
        assert item["ErrCode"] == "Target.NotMounted", item
        assert not any(nas.iterdir()), list(nas.rglob("*"))
    finally:
        gateway.kill()
        control.stop()


def test_a_full_disk_fails_clearly_with_no_file_at_the_final_name(tmp_path, mounts):
    small = mounts(tmp_path / "small", "1m")
    control, gateway, dbs, gw = start(tmp_path, f'[targets.local]\nroot = "{small}"\n')
    try:
        auto_download(control, dbs, gw, "local")
        add_set(control, tmp_path, PLAN, "huge.xb", content(3 << 20, "full"), kind="full")
        [done] = ended(dbs, 1)
        assert done.backup_set_download_status == "failed"
        [item] = raw_call(control, "DescribeBackupSetDownloadTaskList",
                          BackupPlanId=PLAN)["Items"]["BackupSetDownloadTaskDetail"]
        assert item["ErrCode"] == "Target.NoSpace", item
        assert not (small / "backups" / PLAN / "full" / "huge.xb").exists()
    finally:
        gateway.kill()
        control.stop()

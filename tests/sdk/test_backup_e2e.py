"""Backup plans end to end through the official SDK (alibabacloud-dbs20190306):
CreateBackupPlan (MySQL, physical or logical), ConfigureBackupPlan with the
source on a gateway's host (`SourceEndpointInstanceType=agent`), StartBackupPlan
(its `CreatedFullBackupsetId`), DescribeFullBackupList until that set has
finished, then the set downloaded as a user downloads one
(CreateFullBackupSetDownload, DescribeBackupSetDownloadTaskList's URL) and
restored with restore.py: its `CHECKSUM TABLE` results equal the source's at
backup time; `BackupObjects` limits what a logical set holds; the password a
client sends is neither stored nor logged by dbs-control."""

import json
import time
import uuid

import pytest

from harness import Control, Gateway, online_gateway_id, tea_client, wait_until
from plans import download, finished_set, start_plan
from restore import (checksums, drop_databases, env, restore_logical, restore_physical, seed_databases, source,
                     source_database_toml, tables)

# A client's source password: the agent logs in with its own gateway.toml entry.
CLIENT_PASSWORD = f"client-sent-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def seeded():
    """Three databases on the test MariaDB; dropped at the end."""
    client = source()
    databases = seed_databases(client)
    yield client, databases
    drop_databases(client, databases)


@pytest.fixture
def setup(tmp_path):
    """dbs-control, and a gateway whose gateway.toml holds the test
    MariaDB's login, online: (control, SDK client, BackupGatewayId)."""
    control = Control(tmp_path / "control", "--heartbeat-interval", "1").start()
    gateway = Gateway(tmp_path / "gw", control, identifier="db-host-backup",
                      extra_toml=source_database_toml()).start()
    dbs = tea_client(control)
    gateway_id = wait_until(lambda: online_gateway_id(dbs, "db-host-backup"), "the gateway to be ONLINE")
    yield control, dbs, int(gateway_id)
    if gateway.proc.poll() is None:
        gateway.terminate()
    control.stop()


def assert_password_kept_out(control):
    """CLIENT_PASSWORD is in no file of dbs-control's data dir nor its log."""
    for path in [control.log, *control.data_dir.rglob("*")]:
        if path.is_file():
            assert CLIENT_PASSWORD.encode() not in path.read_bytes(), f"the client's password is in {path}"


def test_a_physical_plan_backup_restores_with_the_sources_checksums(tmp_path, setup, seeded):
    control, dbs, gateway_id = setup
    client, databases = seeded
    want = checksums(client, databases)
    started = time.monotonic()
    plan_id, set_id = start_plan(dbs, gateway_id, "physical", env("DBS_TEST_MYSQL_PORT"), password=CLIENT_PASSWORD)
    item = finished_set(dbs, plan_id, set_id)
    assert item.backup_size > 0
    set_bytes = download(dbs, plan_id, set_id)
    assert len(set_bytes) == item.backup_size
    print(f"physical set: {len(set_bytes)} bytes in {time.monotonic() - started:.1f} s")

    with restore_physical(set_bytes, tmp_path) as server:
        assert checksums(server, databases) == want
    assert_password_kept_out(control)


def test_a_logical_plan_backup_restores_with_the_sources_checksums(tmp_path, setup, seeded):
    control, dbs, gateway_id = setup
    client, databases = seeded
    want = checksums(client, databases)
    objects = json.dumps([{"DBName": d} for d in databases])
    plan_id, set_id = start_plan(dbs, gateway_id, "logical", env("DBS_TEST_MYSQL_PORT"), objects, CLIENT_PASSWORD)
    item = finished_set(dbs, plan_id, set_id)
    set_bytes = download(dbs, plan_id, set_id)
    assert len(set_bytes) == item.backup_size

    with restore_logical(set_bytes, tmp_path) as server:
        assert tables(server) == sorted(want)
        assert checksums(server, databases) == want
    assert_password_kept_out(control)


def test_backup_objects_limit_what_a_logical_plan_backs_up(tmp_path, setup, seeded):
    _, dbs, gateway_id = setup
    client, databases = seeded
    audit, media, shop = databases
    want = {k: v for k, v in checksums(client, databases).items()
            if k.startswith(f"{media}.") or k == f"{shop}.orders"}
    objects = json.dumps([{"DBName": media}, {"DBName": shop, "TableIncludes": [{"TableName": "orders"}]}])
    plan_id, set_id = start_plan(dbs, gateway_id, "logical", env("DBS_TEST_MYSQL_PORT"), objects, CLIENT_PASSWORD)
    finished_set(dbs, plan_id, set_id)

    with restore_logical(download(dbs, plan_id, set_id), tmp_path) as server:
        assert tables(server) == sorted(want)  # no audit database, no shop.customers
        assert checksums(server, databases) == want


def test_an_agent_killed_mid_upload_completes_the_set_after_its_restart(tmp_path, seeded):
    """SIGKILL of the agent while a plan's backup is being uploaded: the set
    is never listed half, and after the restart it completes (a new backup)
    and restores with the source's checksums."""
    from alibabacloud_dbs20190306 import models

    client, databases = seeded
    want = checksums(client, databases)
    control = Control(tmp_path / "control", "--heartbeat-interval", "1", "--task-lease", "5").start()
    gateway = Gateway(tmp_path / "gw", control, identifier="db-host-killed",
                      extra_toml=source_database_toml()).start()
    try:
        dbs = tea_client(control)
        gateway_id = int(wait_until(lambda: online_gateway_id(dbs, "db-host-killed"), "the gateway to be ONLINE"))
        plan_id = dbs.create_backup_plan(models.CreateBackupPlanRequest(
            region="cn-hangzhou", database_type="MySQL", backup_method="physical")).body.backup_plan_id
        dbs.configure_backup_plan(models.ConfigureBackupPlanRequest(
            backup_plan_id=plan_id, source_endpoint_instance_type="agent", backup_gateway_id=gateway_id,
            source_endpoint_ip="127.0.0.1", source_endpoint_port=int(env("DBS_TEST_MYSQL_PORT")),
            backup_period="Sunday", backup_start_time="03:00", backup_speed_limit=1024))
        set_id = dbs.start_backup_plan(models.StartBackupPlanRequest(
            backup_plan_id=plan_id)).body.created_full_backupset_id

        def listed():
            body = dbs.describe_full_backup_list(models.DescribeFullBackupListRequest(
                backup_plan_id=plan_id, show_progress=True)).body
            return [(i.backup_set_id, i.backup_status, i.backup_size or 0)
                    for i in (body.items.full_backup_file if body.items else [])]

        wait_until(lambda: any(size > 0 for _, _, size in listed()), "bytes to be uploaded", timeout=120)
        gateway.kill()
        assert [(i, status) for i, status, _ in listed()] == [(set_id, "running")], "a half set is never finished"

        gateway.start()
        item = finished_set(dbs, plan_id, set_id)
        set_bytes = download(dbs, plan_id, set_id)
        assert len(set_bytes) == item.backup_size
        with restore_physical(set_bytes, tmp_path) as server:
            assert checksums(server, databases) == want
    finally:
        if gateway.proc.poll() is None:
            gateway.terminate()
        control.stop()

"""PENDING MERGE: this draft needs the backup plan actions and scheduler and
the agent's backup executor with its upload to dbs-control, which are not on
this branch. Until they are merged the whole module is skipped (`pytestmark`
below); remove that mark once they are and finish what the merge changes.

Backup plans end to end through the official SDK (alibabacloud-dbs20190306):
CreateBackupPlan (MySQL, physical or logical), ConfigureBackupPlan with the
source on a gateway's host (`SourceEndpointInstanceType=agent`), StartBackupPlan
(its `CreatedFullBackupsetId`), DescribeFullBackupList until that set has
finished, then the set downloaded as a user downloads one
(CreateFullBackupSetDownload, DescribeBackupSetDownloadTaskList's URL) and
restored with restore.py: its `CHECKSUM TABLE` results equal the source's at
backup time; `BackupObjects` limits what a logical set holds; the password a
client sends is neither stored nor logged by dbs-control."""

import datetime
import json
import time
import urllib.request
import uuid

import pytest
from alibabacloud_dbs20190306 import models

from harness import Control, Gateway, online_gateway_id, tea_client, wait_until
from restore import (checksums, drop_databases, env, restore_logical, restore_physical, seed_databases, source,
                     source_database_toml, tables)

pytestmark = pytest.mark.skip(reason="pending merge: backup plans (plans branch) and the agent's backups (upload branch)")

REGION = "cn-hangzhou"
# DescribeFullBackupList's BackupStatus of a full set (the documents:
# schedule, running, finish, stop = failed, pause).
FINISHED, FAILED = "finish", "stop"
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


def start_plan(dbs, gateway_id, method, objects=None):
    """A plan created, configured for the test MariaDB on the gateway's host
    and started: (BackupPlanId, CreatedFullBackupsetId)."""
    plan_id = dbs.create_backup_plan(models.CreateBackupPlanRequest(
        region=REGION, database_type="MySQL", backup_method=method, instance_class="small",
        period="Month", used_time=1, pay_type="PostPaid", client_token=uuid.uuid4().hex)).body.backup_plan_id
    assert plan_id
    # A weekly window half a day away: only StartBackupPlan takes a backup here.
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=12)).strftime("%H:%M")
    body = dbs.configure_backup_plan(models.ConfigureBackupPlanRequest(
        backup_plan_id=plan_id, backup_plan_name=f"e2e-{method}", source_endpoint_instance_type="agent",
        backup_gateway_id=gateway_id, source_endpoint_region=REGION, source_endpoint_ip="127.0.0.1",
        source_endpoint_port=int(env("DBS_TEST_MYSQL_PORT")), source_endpoint_user_name="ignored-by-the-agent",
        source_endpoint_password=CLIENT_PASSWORD, backup_objects=objects,
        backup_period="Monday,Tuesday,Wednesday,Thursday,Friday,Saturday,Sunday", backup_start_time=start,
        backup_strategy_type="simple", backup_storage_type="system", backup_retention_period=7)).body
    assert body.success, body.err_message
    body = dbs.start_backup_plan(models.StartBackupPlanRequest(backup_plan_id=plan_id)).body
    assert body.success, body.err_message
    assert body.created_full_backupset_id
    return plan_id, body.created_full_backupset_id


def finished_set(dbs, plan_id, set_id, timeout=600.0):
    """Polls DescribeFullBackupList until set `set_id` has finished: its
    entry. A failed set fails the test with its error."""
    def state():
        body = dbs.describe_full_backup_list(models.DescribeFullBackupListRequest(
            backup_plan_id=plan_id, backup_set_id=set_id)).body
        assert body.success, body.err_message
        items = body.items.full_backup_file if body.items else []
        [item] = [i for i in items if i.backup_set_id == set_id] or [None]
        assert item is None or item.backup_status != FAILED, f"set {set_id} failed: {item.err_message}"
        return item if item is not None and item.backup_status == FINISHED else None
    return wait_until(state, f"set {set_id} to finish", timeout=timeout, step=1.0)


def download(dbs, plan_id, set_id):
    """The set's bytes, through a manual download's URL."""
    task_id = dbs.create_full_backup_set_download(models.CreateFullBackupSetDownloadRequest(
        backup_set_id=set_id, backup_set_data_format="Native")).body.backup_set_download_task_id
    body = dbs.describe_backup_set_download_task_list(models.DescribeBackupSetDownloadTaskListRequest(
        backup_plan_id=plan_id, backup_set_download_task_id=task_id)).body
    [item] = body.items.backup_set_download_task_detail
    assert item.backup_set_download_status == "finish"
    with urllib.request.urlopen(item.backup_set_download_internet_url) as response:
        return response.read()


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
    plan_id, set_id = start_plan(dbs, gateway_id, "physical")
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
    plan_id, set_id = start_plan(dbs, gateway_id, "logical", objects)
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
    plan_id, set_id = start_plan(dbs, gateway_id, "logical", objects)
    finished_set(dbs, plan_id, set_id)

    with restore_logical(download(dbs, plan_id, set_id), tmp_path) as server:
        assert tables(server) == sorted(want)  # no audit database, no shop.customers
        assert checksums(server, databases) == want

"""Full backups through a backup plan, driven with the official SDK
(alibabacloud-dbs20190306): a plan created, configured for a MySQL on a
gateway's host (`SourceEndpointInstanceType=agent`) and started; its set
followed in DescribeFullBackupList until it has finished; the set's bytes
fetched as a user downloads them. Used by tests/sdk/test_backup_e2e.py and
bench/backup-gateway.sh."""

import datetime
import time
import urllib.request
import uuid

from alibabacloud_dbs20190306 import models

REGION = "cn-hangzhou"
# DescribeFullBackupList's BackupStatus of a full set (the documents:
# schedule, running, finish, stop = failed, pause).
FINISHED, FAILED = "finish", "stop"


def start_plan(dbs, gateway_id, method, port, objects=None, password=None):
    """A plan for the MySQL on 127.0.0.1:`port` of gateway `gateway_id`,
    created, configured (a weekly window half a day away, so only
    StartBackupPlan takes a backup) and started: (BackupPlanId,
    CreatedFullBackupsetId). `password` is sent as SourceEndpointPassword."""
    plan_id = dbs.create_backup_plan(models.CreateBackupPlanRequest(
        region=REGION, database_type="MySQL", backup_method=method, instance_class="small",
        period="Month", used_time=1, pay_type="PostPaid", client_token=uuid.uuid4().hex)).body.backup_plan_id
    assert plan_id
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=12)).strftime("%H:%M")
    body = dbs.configure_backup_plan(models.ConfigureBackupPlanRequest(
        backup_plan_id=plan_id, backup_plan_name=f"{method}-{plan_id}", source_endpoint_instance_type="agent",
        backup_gateway_id=gateway_id, source_endpoint_region=REGION, source_endpoint_ip="127.0.0.1",
        source_endpoint_port=int(port), source_endpoint_user_name="ignored-by-the-agent",
        source_endpoint_password=password, backup_objects=objects,
        backup_period="Monday,Tuesday,Wednesday,Thursday,Friday,Saturday,Sunday", backup_start_time=start,
        backup_strategy_type="simple", backup_storage_type="system", backup_retention_period=7)).body
    assert body.success, body.err_message
    body = dbs.start_backup_plan(models.StartBackupPlanRequest(backup_plan_id=plan_id)).body
    assert body.success, body.err_message
    assert body.created_full_backupset_id
    return plan_id, body.created_full_backupset_id


def finished_set(dbs, plan_id, set_id, timeout=600.0, step=1.0):
    """Polls DescribeFullBackupList until set `set_id` has finished: its
    entry. A failed set raises with its error; so does the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        body = dbs.describe_full_backup_list(models.DescribeFullBackupListRequest(
            backup_plan_id=plan_id, backup_set_id=set_id)).body
        assert body.success, body.err_message
        items = body.items.full_backup_file if body.items else []
        item = next((i for i in items if i.backup_set_id == set_id), None)
        assert item is None or item.backup_status != FAILED, f"set {set_id} failed: {item.err_message}"
        if item is not None and item.backup_status == FINISHED:
            return item
        assert time.monotonic() < deadline, f"set {set_id} did not finish (last: {item and item.backup_status})"
        time.sleep(step)


def download(dbs, plan_id, set_id, path=None):
    """The set's bytes through a manual download's URL, or, with `path`,
    written there (streamed): the byte count."""
    task_id = dbs.create_full_backup_set_download(models.CreateFullBackupSetDownloadRequest(
        backup_set_id=set_id, backup_set_data_format="Native")).body.backup_set_download_task_id
    body = dbs.describe_backup_set_download_task_list(models.DescribeBackupSetDownloadTaskListRequest(
        backup_plan_id=plan_id, backup_set_download_task_id=task_id)).body
    [item] = body.items.backup_set_download_task_detail
    assert item.backup_set_download_status == "finish"
    with urllib.request.urlopen(item.backup_set_download_internet_url) as response:
        if path is None:
            return response.read()
        written = 0
        with open(path, "wb") as out:
            while chunk := response.read(1 << 20):
                written += out.write(chunk)
        return written

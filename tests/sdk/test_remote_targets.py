"""Backup sets auto-downloaded by a real agent into the FTP and MinIO targets,
driven through the official SDK with BackupSetDownloadTargetTypeLocation ftp and
minio; the bytes are checked where the servers keep them."""

import hashlib
import os
import uuid
from pathlib import Path

from harness import add_set
from test_agent_download import auto_download, content, ended, start


def env(name):
    value = os.environ.get(name)
    assert value, f"{name} is not set: run the tests with scripts/test.sh (it starts the FTP and S3 servers)"
    return value


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_sets_arrive_on_ftp_and_minio(tmp_path):
    run = uuid.uuid4().hex[:8]
    targets = f"""
[targets.ftp]
host = "{env('DBS_TEST_FTP_HOST')}"
port = {env('DBS_TEST_FTP_PORT')}
user = "{env('DBS_TEST_FTP_USER')}"
password = "{env('DBS_TEST_FTP_PASSWORD')}"
root = "sdk-{run}"

[targets.minio]
endpoint = "{env('DBS_TEST_S3_ENDPOINT')}"
bucket = "{env('DBS_TEST_S3_BUCKET')}"
region = "{env('DBS_TEST_S3_REGION')}"
access_key_id = "{env('DBS_TEST_S3_ACCESS_KEY')}"
secret_access_key = "{env('DBS_TEST_S3_SECRET_KEY')}"
prefix = "sdk-{run}"
path_style = true
part_size_mib = 5
"""
    control, gateway, dbs, gw = start(tmp_path, targets)
    try:
        auto_download(control, dbs, gw, "ftp", plan="plan-ftp")
        auto_download(control, dbs, gw, "minio", plan="plan-minio")
        sets = {}
        for plan in ("plan-ftp", "plan-minio"):
            sets[plan] = [
                add_set(control, tmp_path, plan, f"{plan}.xb", content(12 << 20, plan), kind="full"),
                add_set(control, tmp_path, plan, "mysql-bin.000007", content(300 << 10, plan + "i"), kind="increment"),
            ]
        roots = {
            "plan-ftp": Path(env("DBS_TEST_FTP_ROOT")) / f"sdk-{run}",
            "plan-minio": Path(env("DBS_TEST_S3_ROOT")) / env("DBS_TEST_S3_BUCKET") / f"sdk-{run}",
        }
        for plan, root in roots.items():
            done = ended(dbs, 2, plan, timeout=120)
            assert {d.backup_set_download_status for d in done} == {"finish"}, [d.to_map() for d in done]
            full, inc = sets[plan]
            assert sha256(root / "backups" / plan / "full" / f"{plan}.xb") == full["SHA256"]
            assert sha256(root / "backups" / plan / "increment" / "mysql-bin.000007") == inc["SHA256"]
        ftp_files = [p.name for p in roots["plan-ftp"].rglob("*") if p.is_file()]
        assert not [n for n in ftp_files if n.startswith(".dbs-part.")], ftp_files
    finally:
        gateway.kill()
        control.stop()


def test_the_download_command_writes_to_ftp_and_minio(tmp_path):
    """`dbs-gateway download URL --to ftp:ROOT|minio:BUCKET/PREFIX --config FILE`."""
    import subprocess
    from alibabacloud_dbs20190306 import models
    from harness import binary, raw_call
    run = uuid.uuid4().hex[:8]
    control, gateway, dbs, gw = start(tmp_path, "")
    try:
        gateway.kill()
        data = content(7 << 20, "cli")
        added = add_set(control, tmp_path, "plan-cli", "cli-set.xb", data, kind="full")
        dbs.create_full_backup_set_download(models.CreateFullBackupSetDownloadRequest(
            backup_set_id=added["BackupSetId"], backup_set_data_format="Native"))
        [item] = raw_call(control, "DescribeBackupSetDownloadTaskList",
                          BackupPlanId="plan-cli")["Items"]["BackupSetDownloadTaskDetail"]
        url = item["BackupSetDownloadInternetUrl"]
        config = tmp_path / "cli.toml"
        config.write_text(gateway.config.read_text() + f"""
[targets.ftp]
host = "{env('DBS_TEST_FTP_HOST')}"
port = {env('DBS_TEST_FTP_PORT')}
user = "{env('DBS_TEST_FTP_USER')}"
password = "{env('DBS_TEST_FTP_PASSWORD')}"

[targets.minio]
endpoint = "{env('DBS_TEST_S3_ENDPOINT')}"
bucket = "{env('DBS_TEST_S3_BUCKET')}"
region = "{env('DBS_TEST_S3_REGION')}"
access_key_id = "{env('DBS_TEST_S3_ACCESS_KEY')}"
secret_access_key = "{env('DBS_TEST_S3_SECRET_KEY')}"
path_style = true
part_size_mib = 5
""")
        for to, landed in (
            (f"ftp:cli-{run}", Path(env("DBS_TEST_FTP_ROOT")) / f"cli-{run}"),
            (f"minio:{env('DBS_TEST_S3_BUCKET')}/cli-{run}",
             Path(env("DBS_TEST_S3_ROOT")) / env("DBS_TEST_S3_BUCKET") / f"cli-{run}"),
        ):
            out = subprocess.run([binary("dbs-gateway"), "download", url, "--to", to, "--config", str(config),
                                  "--crc64", added["CRC64"]], capture_output=True, text=True)
            assert out.returncode == 0, out.stderr
            assert out.stdout.startswith(f"crc64ecma:{added['CRC64']}  "), out.stdout
            name = url.split("?")[0].rsplit("/", 1)[1]
            assert sha256(landed / name) == added["SHA256"], list(landed.rglob("*"))
    finally:
        gateway.kill()
        control.stop()

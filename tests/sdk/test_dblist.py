"""Get-DB-list tasks end to end through the official SDK: CreateGetDBListFromAgentTask,
the gateway on this host lists a real MariaDB and a real Redis with the credentials
in its gateway.toml, GetDBListFromAgent answers."""

import os
import secrets
import socket
import subprocess
import uuid

import pytest
from alibabacloud_dbs20190306 import models
from Tea.exceptions import TeaException

from harness import Control, Gateway, online_gateway_id, raw_call, tea_client, wait_until

REGION = "cn-hangzhou"


def env(name):
    value = os.environ.get(name)
    assert value, f"{name} is not set: run the tests with scripts/test.sh (it starts MariaDB and Redis)"
    return value


def mysql_admin(sql):
    subprocess.run(
        ["mariadb", "--no-defaults", "-h", env("DBS_TEST_MYSQL_HOST"), "-P", env("DBS_TEST_MYSQL_PORT"),
         "-u", env("DBS_TEST_MYSQL_ADMIN_USER"), f"-p{env('DBS_TEST_MYSQL_ADMIN_PASSWORD')}", "-e", sql],
        check=True)


def redis(*args, db=0):
    subprocess.run(
        ["redis-cli", "-h", env("DBS_TEST_REDIS_HOST"), "-p", env("DBS_TEST_REDIS_PORT"),
         "--user", env("DBS_TEST_REDIS_ACL_USER"), "--pass", env("DBS_TEST_REDIS_ACL_PASSWORD"),
         "--no-auth-warning", "-n", str(db), *args],
        check=True, capture_output=True)


@pytest.fixture(scope="module")
def mysql_user():
    """A MariaDB user that sees exactly 50 databases made for this module."""
    user, password, prefix = f"sdk_{secrets.token_hex(3)}", secrets.token_hex(12), f"sdk{secrets.token_hex(2)}"
    names = [f"{prefix}_{i:02d}" for i in range(50)]
    mysql_admin("".join(f"CREATE DATABASE {n}; " for n in names)
                + f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'; "
                + f"GRANT ALL ON `{prefix}\\_%`.* TO '{user}'@'127.0.0.1'; "
                + f"CREATE TABLE {names[0]}.t (id INT PRIMARY KEY); INSERT INTO {names[0]}.t VALUES (1);")
    return user, password, names


@pytest.fixture
def setup(tmp_path, mysql_user):
    user, password, _ = mysql_user
    control = Control(tmp_path / "control", "--heartbeat-interval", "1", "--offline-after", "4").start()
    databases = f"""
[[databases]]
type = "mysql"
host = "127.0.0.1"
port = {env('DBS_TEST_MYSQL_PORT')}
user = "{user}"
password = "{password}"

[[databases]]
type = "redis"
host = "127.0.0.1"
port = {env('DBS_TEST_REDIS_PORT')}
user = "{env('DBS_TEST_REDIS_ACL_USER')}"
password = "{env('DBS_TEST_REDIS_ACL_PASSWORD')}"

[[databases]]
type = "redis"
host = "127.0.0.1"
port = 9
"""
    gateway = Gateway(tmp_path / "gw", control, identifier="dbhost", extra_toml=databases).start()
    dbs = tea_client(control)
    gateway_id = wait_until(lambda: online_gateway_id(dbs, "dbhost"), "the gateway to be ONLINE")
    yield control, gateway, dbs, int(gateway_id)
    if gateway.proc.poll() is None:
        gateway.kill()
    control.stop()


def create(dbs, gateway_id, db_type, port, token=None):
    return dbs.create_get_dblist_from_agent_task(models.CreateGetDBListFromAgentTaskRequest(
        backup_gateway_id=gateway_id, database_type=db_type, source_endpoint_ip="127.0.0.1",
        source_endpoint_port=int(port), source_endpoint_region=REGION,
        client_token=token or uuid.uuid4().hex)).body.task_id


def result(dbs, gateway_id, task_id):
    def done():
        body = dbs.get_dblist_from_agent(models.GetDBListFromAgentRequest(
            backup_gateway_id=gateway_id, task_id=task_id, source_endpoint_region=REGION)).body
        return body if body.err_code != "Task.Running" else None
    return wait_until(done, f"task {task_id} to end")


def test_mysql_databases_listed_exactly(setup, mysql_user):
    _, _, dbs, gw = setup
    names = mysql_user[2]
    token = uuid.uuid4().hex
    task_id = create(dbs, gw, "MySQL", env("DBS_TEST_MYSQL_PORT"), token)
    assert create(dbs, gw, "MySQL", env("DBS_TEST_MYSQL_PORT"), token) == task_id, "same ClientToken, same TaskId"
    body = result(dbs, gw, task_id)
    assert body.success is True, body.to_map()
    assert sorted(body.db_list.db_name) == names
    assert not {"mysql", "information_schema", "performance_schema", "sys"} & set(body.db_list.db_name)


def test_mysql_details_travel_beside_the_names(setup, mysql_user):
    control, _, _, gw = setup
    names = mysql_user[2]
    dbs = tea_client(control)
    task_id = create(dbs, gw, "MySQL", env("DBS_TEST_MYSQL_PORT"))
    result(dbs, gw, task_id)
    # The SDK model drops fields it does not know: read the raw answer.
    raw = raw_call(control, "GetDBListFromAgent", TaskId=task_id, BackupGatewayId=gw)
    details = {d["Name"]: d for d in raw["DbDetails"]}
    assert raw["DbList"]["dbName"] == [d["Name"] for d in raw["DbDetails"]]
    assert details[names[0]]["Tables"] == 1 and details[names[0]]["SizeBytes"] > 0
    assert details[names[1]]["Tables"] == 0


def test_redis_databases_with_key_counts(setup):
    _, _, dbs, gw = setup
    redis("FLUSHALL")
    for i in range(3):
        redis("SET", f"k{i}", "v", db=0)
    for i in range(7):
        redis("SET", f"k{i}", "v", db=5)
    body = result(dbs, gw, create(dbs, gw, "Redis", env("DBS_TEST_REDIS_PORT")))
    assert body.db_list.db_name == ["db0", "db5"], body.to_map()


def test_unconfigured_endpoint_fails_naming_it_and_the_config(setup):
    _, gateway, dbs, gw = setup
    body = result(dbs, gw, create(dbs, gw, "MySQL", 9))
    assert body.success is False
    assert body.err_code == "EndpointNotConfigured"
    assert "127.0.0.1:9" in body.err_message and str(gateway.config) in body.err_message


def test_closed_port_fails_with_its_code(tmp_path, setup):
    control, _, dbs, gw = setup
    # The entry for Redis on port 9 (nothing listens there) is configured.
    body = result(dbs, gw, create(dbs, gw, "Redis", 9))
    assert body.err_code == "DbConnectionRefused", body.to_map()


def test_redis_without_an_entry_is_refused_without_connecting(setup):
    _, gateway, dbs, gw = setup
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        body = result(dbs, gw, create(dbs, gw, "Redis", port))
        assert body.err_code == "EndpointNotConfigured", body.to_map()
        assert str(gateway.config) in body.err_message
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_unsupported_type_unknown_and_offline_gateways_are_refused(setup):
    _, gateway, dbs, gw = setup
    with pytest.raises(TeaException) as refused:
        create(dbs, gw, "Oracle", 1521)
    assert refused.value.code == "UnsupportedDatabaseType"
    with pytest.raises(TeaException) as refused:
        create(dbs, gw + 1000, "MySQL", 3306)
    assert refused.value.code == "BackupGateway.NotFound"
    gateway.terminate()
    with pytest.raises(TeaException) as refused:
        create(dbs, gw, "MySQL", 3306)
    assert refused.value.code == "BackupGateway.NotOnline"

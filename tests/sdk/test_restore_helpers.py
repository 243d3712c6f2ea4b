"""The restore helpers (restore.py) proved on sets that `dbs-gateway backup`
takes of the test MariaDB: a physical set and a logical set, each restored
into a throwaway MariaDB, give the `CHECKSUM TABLE` results the source had at
backup time (rows changed after the backup are not in them); `--objects`
limits what a logical set holds; a restored server is gone when its `with`
block ends."""

import json
import socket
import subprocess

import pytest

from harness import binary
from restore import (checksums, drop_databases, env, restore_logical, restore_physical, seed_databases, source,
                     source_database_toml, tables)


@pytest.fixture(scope="module")
def seeded():
    """Three databases on the test MariaDB and their checksums before any
    backup; the databases are dropped at the end."""
    client = source()
    databases = seed_databases(client)
    yield client, databases, checksums(client, databases)
    drop_databases(client, databases)


def one_shot_backup(tmp_path, method, *args):
    """`dbs-gateway backup --method METHOD ARGS --to local`, with a
    gateway.toml holding the test MariaDB's admin login: the set's path."""
    host, port = env("DBS_TEST_MYSQL_HOST"), env("DBS_TEST_MYSQL_PORT")
    sets = tmp_path / "sets"
    sets.mkdir()
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[gateway]
state_dir = {json.dumps(str(tmp_path / 'state'))}

[control]
endpoint = "http://127.0.0.1:9"
access_key_id = "unused-here"
access_key_secret = "unused-here"

[targets.local]
root = {json.dumps(str(sets))}
{source_database_toml()}""")
    name = f"set.{'xb' if method == 'physical' else 'sql'}"
    out = subprocess.run(
        [binary("dbs-gateway"), "backup", "--config", str(config), "--host", host, "--port", port,
         "--method", method, *args, "--to", "local", "--name", name],
        capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("crc64ecma:"), out.stdout
    return sets / name


def change_after_backup(client, databases):
    """Rows changed once the set is taken: a restore must not show them."""
    shop, audit = databases[2], databases[0]
    client.query(f"UPDATE {shop}.orders SET amount = amount + 1 WHERE id % 7 = 0; "
                 f"DELETE FROM {audit}.events WHERE id % 11 = 0")


def test_a_physical_set_restores_with_the_sources_checksums(tmp_path, seeded):
    client, databases, before = seeded
    assert len(before) == 5 and all(v is not None for v in before.values()), before
    xb = one_shot_backup(tmp_path, "physical")
    change_after_backup(client, databases)
    assert checksums(client, databases) != before

    with restore_physical(xb.read_bytes(), tmp_path) as server:
        assert checksums(server, databases) == before
        [[count]] = server.query(f"SELECT COUNT(*) FROM {databases[0]}.ins")
        assert int(count) > 0


def test_a_logical_set_restores_with_the_sources_checksums(tmp_path, seeded):
    client, databases, _ = seeded
    want = checksums(client, databases)
    objects = ",".join(f'{{"DBName":"{d}"}}' for d in databases)
    sql = one_shot_backup(tmp_path, "logical", "--objects", f"[{objects}]")
    client.query(f"UPDATE {databases[2]}.customers SET email = 'changed' WHERE id < 10")

    with restore_logical(sql, tmp_path) as server:
        assert tables(server) == sorted(want)
        assert checksums(server, databases) == want
        assert server.query(f"SELECT COUNT(*) FROM {databases[0]}.ins") == \
            client.query(f"SELECT COUNT(*) FROM {databases[0]}.ins")


def test_backup_objects_limit_what_a_logical_set_holds(tmp_path, seeded):
    client, databases, _ = seeded
    audit, media, shop = databases
    want = {k: v for k, v in checksums(client, databases).items()
            if k.startswith(f"{media}.") or k == f"{shop}.orders"}
    objects = f'[{{"DBName":"{media}"}},{{"DBName":"{shop}","TableIncludes":[{{"TableName":"orders"}}]}}]'
    sql = one_shot_backup(tmp_path, "logical", "--objects", objects)

    with restore_logical(sql, tmp_path) as server:
        assert tables(server) == sorted(want)  # no audit database, no shop.customers
        assert checksums(server, databases) == want


def test_a_restored_server_stops_when_its_block_ends(tmp_path):
    with restore_logical(b"CREATE DATABASE kept; CREATE TABLE kept.t (id INT PRIMARY KEY); "
                         b"INSERT INTO kept.t VALUES (1), (2);", tmp_path) as server:
        assert tables(server) == ["kept.t"]
        assert server.tcp_client().query("SELECT COUNT(*) FROM kept.t") == [["2"]]
        port, proc = server.port, server.proc
    assert proc.poll() is not None
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    assert not server.socket.parent.exists()

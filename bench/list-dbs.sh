#!/usr/bin/env bash
# Get-DB-list at scale: a private MariaDB with 1,000 databases, dbs-control
# and the agent (release builds), then through the official SDK the round trip
# CreateGetDBListFromAgentTask -> GetDBListFromAgent answered, and the task
# pickup latency (queued -> leased by the agent's long poll, p50/p99 over 100
# tasks), beside `mariadb -e 'SHOW DATABASES'` in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export DBS_TESTRUN="$ROOT/.bench/list-dbs"
rm -rf "$DBS_TESTRUN"; mkdir -p "$DBS_TESTRUN"
source scripts/lib/common.sh
source scripts/lib/services/mariadb.sh
trap stop_all_services EXIT

ensure_debian_packages "${TEST_DEBIAN_PACKAGES[@]}"
ensure_python_venv "$ROOT/.bench/venv"
cargo build --release --quiet --bins
DBS_TEST_MYSQL_PORT=$(free_port)
DBS_TEST_MYSQL_ADMIN_USER=dbs_admin
DBS_TEST_MYSQL_ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
export DBS_TEST_MYSQL_PORT DBS_TEST_MYSQL_ADMIN_USER DBS_TEST_MYSQL_ADMIN_PASSWORD
_start_mariadb_instance bench "$DBS_TEST_MYSQL_PORT" "$DBS_TEST_MYSQL_ADMIN_PASSWORD" >/dev/null

step "creating 1,000 databases"
python3 -c 'print("".join(f"CREATE DATABASE bench_{i:04d};" for i in range(1000)))' |
    mariadb --no-defaults -h 127.0.0.1 -P "$DBS_TEST_MYSQL_PORT" -u "$DBS_TEST_MYSQL_ADMIN_USER" -p"$DBS_TEST_MYSQL_ADMIN_PASSWORD"

source bench/lib/control-agent.sh
start_control_and_agent target/release bench-dbs "$DBS_TEST_MYSQL_PORT" \
    "$DBS_TEST_MYSQL_ADMIN_USER" "$DBS_TEST_MYSQL_ADMIN_PASSWORD"

DBS_ENDPOINT="127.0.0.1:$CONTROL_PORT" DBS_ACCESS_KEY_ID="$KEY_ID" DBS_ACCESS_KEY_SECRET="$KEY_SECRET" \
DBS_DB_FILE="$DBS_TESTRUN/control/dbs-control.sqlite3" \
    "$ROOT/.bench/venv/bin/python" bench/list_dbs.py

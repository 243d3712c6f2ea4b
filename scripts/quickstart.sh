#!/usr/bin/env bash
# The main job, on this machine: builds both binaries, starts a private
# MariaDB and Redis with some data, starts dbs-control on loopback with its
# embedded store, creates an AccessKey, writes a gateway config, starts the
# gateway, and shows through the official SDK the gateway ONLINE, the
# databases it lists, and a backup plan: started through the SDK, its backup
# taken by the gateway, uploaded to dbs-control (CRC64-checked) and
# auto-downloaded into a local dir with its checksum. Stays up until Ctrl-C; everything lives under .quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
QS="$ROOT/.quickstart"
source scripts/lib/common.sh
source scripts/lib/services/mariadb.sh
source scripts/lib/services/redis.sh
trap stop_all_services EXIT
trap 'exit 0' INT TERM

rm -rf "$QS"
mkdir -p "$QS"

step "building"
cargo build --quiet --bins
BIN="$ROOT/target/debug"

step "preparing the official SDK (venv in .quickstart/venv)"
ensure_python_venv "$QS/venv"

step "starting a private MariaDB and Redis (.quickstart/mariadb-demo, .quickstart/redis-demo)"
if ! ensure_debian_packages "mariadbd:mariadb-server" "mariadb:mariadb-client" "redis-server:redis-server" "redis-cli:redis-tools"; then
    echo "install those packages (or run this script as root) and run it again" >&2
    exit 1
fi
export DBS_TESTRUN="$QS"
MYSQL_PORT=$(free_port)
MYSQL_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
_start_mariadb_instance demo "$MYSQL_PORT" "$MYSQL_PASSWORD" >/dev/null
mariadb --no-defaults -h 127.0.0.1 -P "$MYSQL_PORT" -u dbs_admin -p"$MYSQL_PASSWORD" -e "
    CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, total DECIMAL(10,2));
    INSERT INTO shop.orders VALUES (1, 9.99), (2, 19.50);
    CREATE DATABASE crm; CREATE TABLE crm.customers (id INT PRIMARY KEY); CREATE DATABASE analytics;"
REDIS_PORT=$(free_port)
REDIS_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
_start_redis_instance demo "$REDIS_PORT" <<CONF
port $REDIS_PORT
requirepass $REDIS_PASSWORD
CONF
for i in 1 2 3; do redis-cli -p "$REDIS_PORT" -a "$REDIS_PASSWORD" --no-auth-warning SET "session:$i" x >/dev/null; done
redis-cli -p "$REDIS_PORT" -a "$REDIS_PASSWORD" --no-auth-warning -n 2 SET cache:home x >/dev/null
printf '%s\n' "$MYSQL_PASSWORD" > "$QS/mysql-password"
printf '%s\n' "$REDIS_PASSWORD" > "$QS/redis-password"
chmod 600 "$QS/mysql-password" "$QS/redis-password"

step "starting dbs-control"
PORT=$(free_port)
# Two keys, as in production: a user key for the SDK, and a gateway key for
# the agent (bound to the gateway by its first heartbeat).
"$BIN/dbs-control" access-key create --data-dir "$QS/control" > "$QS/access-key.json"
"$BIN/dbs-control" access-key create --role gateway --data-dir "$QS/control" > "$QS/gateway-key.json"
"$BIN/dbs-control" serve --listen "127.0.0.1:$PORT" --data-dir "$QS/control" \
    >"$QS/control.log" 2>&1 &
track_pid $!
wait_for_port "$PORT" dbs-control
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
KEY_ID=$(json_field "$QS/access-key.json" AccessKeyId)
KEY_SECRET=$(json_field "$QS/access-key.json" AccessKeySecret)
GATEWAY_KEY_ID=$(json_field "$QS/gateway-key.json" AccessKeyId)
json_field "$QS/gateway-key.json" AccessKeySecret > "$QS/gateway-key-secret"
chmod 600 "$QS/gateway-key-secret" "$QS/gateway-key.json" "$QS/access-key.json"

step "writing the gateway config"
mkdir -p "$QS/downloads"
cat > "$QS/gateway.toml" <<TOML
[gateway]
identifier = "quickstart-$(hostname)"
state_dir = "$QS/gateway-state"

[control]
endpoint = "http://127.0.0.1:$PORT"
access_key_id = "$GATEWAY_KEY_ID"
access_key_secret_file = "$QS/gateway-key-secret"

[targets.local]
root = "$QS/downloads"

[[databases]]
type = "mysql"
host = "127.0.0.1"
port = $MYSQL_PORT
user = "dbs_admin"
password_file = "$QS/mysql-password"

[[databases]]
type = "redis"
host = "127.0.0.1"
port = $REDIS_PORT
password_file = "$QS/redis-password"
TOML

cat > "$QS/env" <<ENV
DBS_ENDPOINT=http://127.0.0.1:$PORT
DBS_ACCESS_KEY_ID=$KEY_ID
DBS_ACCESS_KEY_SECRET=$KEY_SECRET
DBS_GATEWAY_CONFIG=$QS/gateway.toml
DBS_CONTROL_DATA_DIR=$QS/control
DBS_DEMO_MYSQL_PORT=$MYSQL_PORT
DBS_DEMO_REDIS_PORT=$REDIS_PORT
ENV

step "checking and starting the gateway"
"$BIN/dbs-gateway" check --config "$QS/gateway.toml"
"$BIN/dbs-gateway" run --config "$QS/gateway.toml" >"$QS/gateway.log" 2>&1 &
track_pid $!

step "asking the control plane through the official SDK"
set -a; source "$QS/env"; set +a
"$QS/venv/bin/python" scripts/quickstart/show.py overview

step "the same listing from the host's own CLI: dbs-gateway list-dbs"
"$BIN/dbs-gateway" list-dbs --config "$QS/gateway.toml" --type mysql --host 127.0.0.1 --port "$MYSQL_PORT"

step "pre-checks of the demo MySQL for a logical backup, from the host's own CLI"
"$BIN/dbs-gateway" precheck --config "$QS/gateway.toml" --host 127.0.0.1 --port "$MYSQL_PORT" --method logical

step "a backup plan: dbs-control schedules it, the gateway takes the backup and uploads it, the set is auto-downloaded"
"$QS/venv/bin/python" scripts/quickstart/show.py plan-backup logical "$QS/downloads" \
    '[{"DBName":"shop"},{"DBName":"crm"},{"DBName":"analytics"}]'

step "running: dbs-control on http://127.0.0.1:$PORT, the gateway beside it"
echo "Endpoint and key: $QS/env (source it to point an SDK here). Logs: $QS/*.log"
echo "Press Ctrl-C to stop."
wait

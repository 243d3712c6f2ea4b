#!/usr/bin/env bash
# The main job, on this machine: builds both binaries, starts dbs-control on
# loopback with its embedded store, creates an AccessKey, writes a gateway
# config, starts the gateway, and shows it through the official SDK. Stays up
# until Ctrl-C; everything lives under .quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
QS="$ROOT/.quickstart"
source scripts/lib/common.sh
trap stop_all_services EXIT
trap 'exit 0' INT TERM

rm -rf "$QS"
mkdir -p "$QS"

step "building"
cargo build --quiet --bins
BIN="$ROOT/target/debug"

step "preparing the official SDK (venv in .quickstart/venv)"
ensure_python_venv "$QS/venv"

step "starting dbs-control"
PORT=$(free_port)
"$BIN/dbs-control" access-key create --data-dir "$QS/control" > "$QS/access-key.json"
"$BIN/dbs-control" serve --listen "127.0.0.1:$PORT" --data-dir "$QS/control" \
    >"$QS/control.log" 2>&1 &
track_pid $!
wait_for_port "$PORT" dbs-control
KEY_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["AccessKeyId"])' "$QS/access-key.json")
KEY_SECRET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["AccessKeySecret"])' "$QS/access-key.json")
printf '%s\n' "$KEY_SECRET" > "$QS/access-key-secret"
chmod 600 "$QS/access-key-secret" "$QS/access-key.json"

step "writing the gateway config"
cat > "$QS/gateway.toml" <<TOML
[gateway]
identifier = "quickstart-$(hostname)"
state_dir = "$QS/gateway-state"

[control]
endpoint = "http://127.0.0.1:$PORT"
access_key_id = "$KEY_ID"
access_key_secret_file = "$QS/access-key-secret"
TOML

cat > "$QS/env" <<ENV
DBS_ENDPOINT=http://127.0.0.1:$PORT
DBS_ACCESS_KEY_ID=$KEY_ID
DBS_ACCESS_KEY_SECRET=$KEY_SECRET
DBS_GATEWAY_CONFIG=$QS/gateway.toml
DBS_CONTROL_DATA_DIR=$QS/control
ENV

step "checking and starting the gateway"
"$BIN/dbs-gateway" check --config "$QS/gateway.toml"
"$BIN/dbs-gateway" run --config "$QS/gateway.toml" >"$QS/gateway.log" 2>&1 &
track_pid $!

step "asking the control plane through the official SDK"
set -a; source "$QS/env"; set +a
"$QS/venv/bin/python" scripts/quickstart/show.py

step "running: dbs-control on http://127.0.0.1:$PORT, the gateway beside it"
echo "Endpoint and key: $QS/env (source it to point an SDK here). Logs: $QS/*.log"
echo "Press Ctrl-C to stop."
wait

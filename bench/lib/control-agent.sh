# dbs-control and a dbs-gateway agent for the bench scripts that go through
# the API (bench/list-dbs.sh, bench/backup-gateway.sh). Needs DBS_TESTRUN set
# and scripts/lib/common.sh sourced.

# start_control_and_agent BIN_DIR IDENTIFIER DB_PORT DB_USER DB_PASSWORD:
# dbs-control on a free port (data in $DBS_TESTRUN/control) and an agent
# named IDENTIFIER whose gateway.toml holds the MariaDB on 127.0.0.1:DB_PORT.
# Sets CONTROL_PORT, KEY_ID and KEY_SECRET (a user AccessKey), CONTROL_PID
# and AGENT_PID.
start_control_and_agent() {
    local bin=$1 identifier=$2 db_port=$3 db_user=$4 db_password=$5 gateway_key_id gateway_key_secret
    CONTROL_PORT=$(free_port)
    "$bin/dbs-control" access-key create --data-dir "$DBS_TESTRUN/control" >"$DBS_TESTRUN/key.json"
    "$bin/dbs-control" access-key create --role gateway --data-dir "$DBS_TESTRUN/control" >"$DBS_TESTRUN/gateway-key.json"
    "$bin/dbs-control" serve --listen "127.0.0.1:$CONTROL_PORT" --data-dir "$DBS_TESTRUN/control" 2>"$DBS_TESTRUN/control.log" &
    CONTROL_PID=$!
    track_pid "$CONTROL_PID"
    wait_for_port "$CONTROL_PORT" dbs-control
    read -r KEY_ID KEY_SECRET < <(_access_key "$DBS_TESTRUN/key.json")
    read -r gateway_key_id gateway_key_secret < <(_access_key "$DBS_TESTRUN/gateway-key.json")
    cat >"$DBS_TESTRUN/gateway.toml" <<TOML
[gateway]
identifier = "$identifier"
state_dir = "$DBS_TESTRUN/state"
[control]
endpoint = "http://127.0.0.1:$CONTROL_PORT"
access_key_id = "$gateway_key_id"
access_key_secret = "$gateway_key_secret"
[log]
level = "warn"
[[databases]]
type = "mysql"
host = "127.0.0.1"
port = $db_port
user = "$db_user"
password = "$db_password"
TOML
    "$bin/dbs-gateway" run --config "$DBS_TESTRUN/gateway.toml" 2>"$DBS_TESTRUN/agent.log" &
    AGENT_PID=$!
    track_pid "$AGENT_PID"
}

# "AccessKeyId AccessKeySecret" of `dbs-control access-key create`'s JSON.
_access_key() {
    python3 -c 'import json,sys; k=json.load(open(sys.argv[1])); print(k["AccessKeyId"], k["AccessKeySecret"])' "$1"
}

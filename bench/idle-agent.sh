#!/usr/bin/env bash
# Measures the idle agent: RSS and CPU time over one minute at a 10 s
# heartbeat (no tasks), read from /proc, beside the binaries' sizes.
# Usage: bench/idle-agent.sh [seconds]   (release build)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
trap stop_all_services EXIT
SECONDS_TO_WATCH=${1:-60}
WORK=$(mktemp -d)

cargo build --release --quiet --bins
BIN=target/release
PORT=$(free_port)
"$BIN/dbs-control" access-key create --role gateway --data-dir "$WORK/control" > "$WORK/key.json"
"$BIN/dbs-control" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/control" \
    --heartbeat-interval 10 2>"$WORK/control.log" &
track_pid $!
wait_for_port "$PORT" dbs-control
read -r KEY_ID KEY_SECRET < <(python3 -c 'import json,sys; k=json.load(open(sys.argv[1])); print(k["AccessKeyId"], k["AccessKeySecret"])' "$WORK/key.json")
cat > "$WORK/gateway.toml" <<TOML
[gateway]
identifier = "bench-idle"
state_dir = "$WORK/state"
[control]
endpoint = "http://127.0.0.1:$PORT"
access_key_id = "$KEY_ID"
access_key_secret = "$KEY_SECRET"
TOML
"$BIN/dbs-gateway" run --config "$WORK/gateway.toml" 2>"$WORK/agent.log" &
AGENT=$!
track_pid $AGENT
sleep 3  # registered, first poll under way

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)
start_ticks=$(ticks $AGENT)
peak=0
for _ in $(seq 1 "$SECONDS_TO_WATCH"); do
    r=$(rss_kib $AGENT); [ "$r" -gt "$peak" ] && peak=$r
    sleep 1
done
used=$(( $(ticks $AGENT) - start_ticks ))
printf '\nidle dbs-gateway over %s s (heartbeat 10 s, long poll 25 s):\n' "$SECONDS_TO_WATCH"
printf '  RSS now %s KiB, peak %s KiB\n' "$(rss_kib $AGENT)" "$peak"
awk -v u="$used" -v hz="$HZ" -v s="$SECONDS_TO_WATCH" \
    'BEGIN { printf "  CPU time %d ticks (%d Hz) = %.2f s = %.3f%% of one core\n", u, hz, u / hz, u / hz / s * 100 }'
printf '  binaries: dbs-gateway %s bytes, dbs-control %s bytes (release, stripped)\n' \
    "$(stat -c %s $BIN/dbs-gateway)" "$(stat -c %s $BIN/dbs-control)"
rm -rf "$WORK"

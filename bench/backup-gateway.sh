#!/usr/bin/env bash
# Full backups through the gateway to dbs-control, beside the database's own
# tools, in the same run, on the same host, disk and data:
#
# - physical: a backup plan (BackupMethod=physical) started with the official
#   SDK; the agent runs `mariadb-backup --backup --stream=xbstream` and
#   uploads the stream to dbs-control (CRC64, resumable chunks), against
#   `mariadb-backup --backup --stream=xbstream > file`;
# - logical: a plan with BackupMethod=logical and BackupObjects=[bench]
#   (the agent reads tables in parallel), against
#   `mariadb-dump --single-transaction --databases bench > file`.
#
# Gateway legs: the time from CreateBackupPlan until DescribeFullBackupList
# shows the set finished (so it includes the task's pickup by the agent's
# long poll and dbs-control's final check, and the fsync that makes the set
# durable before it is listed), the set's size, the CPU seconds of the
# agent (with the mariadb-backup it spawns), dbs-control and the database
# server over that time, and the agent's peak RSS during the leg (VmHWM,
# reset before each leg through /proc/PID/clear_refs; the mariadb-backup it
# spawns is not counted in it). Reference legs: the tool's output into a
# file that is then fsynced too (like for like), the tool's and the
# server's CPU, the tool's peak RSS (GNU time). Each gateway set is
# downloaded afterwards (not timed) and checked as the tools' outputs are:
# the xbstream unpacks, the SQL ends with its completion marker.
#
# dbs-control runs on the same two cores here: a gateway leg pays for the
# control plane's work too (its CRC64 and SHA-256 of every byte, its
# durable write), which a real deployment does on another host.
#
# The data: TABLES InnoDB tables of ~200-byte rows, SIZE_MIB in all (default
# 2048), in a private MariaDB (buffer pool 1 GiB, binlog on). Each leg runs
# RUNS times (default 1), alternating; the table shows the median time and
# CPU and the highest peak RSS, then every leg's times.
#
# Usage: bench/backup-gateway.sh   (SIZE_MIB=512 for a quick run)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export DBS_TESTRUN="${BENCH_DIR:-$ROOT/.benchrun-backup-gateway}"
# shellcheck source=bench/lib/backup-data.sh
source bench/lib/backup-data.sh
# shellcheck source=bench/lib/control-agent.sh
source bench/lib/control-agent.sh
backup_bench_init
ensure_python_venv "$ROOT/.bench/venv"

start_bench_mariadb
load_bench_rows "$SIZE_MIB" "$TABLES"
OUT=$DBS_TESTRUN/out
mkdir -p "$OUT"

step "building dbs-control and dbs-gateway (release), starting them"
cargo build --release --quiet --bins
start_control_and_agent "$ROOT/target/release" bench-backup "$PORT" dbs_admin "$PASSWORD"
export DBS_ENDPOINT="127.0.0.1:$CONTROL_PORT" DBS_ACCESS_KEY_ID="$KEY_ID" DBS_ACCESS_KEY_SECRET="$KEY_SECRET" \
    DBS_GATEWAY_IDENTIFIER=bench-backup DBS_BENCH_MYSQL_PORT="$PORT" \
    DBS_BENCH_CPU_PIDS="$AGENT_PID $CONTROL_PID $SERVER_PID"

# gateway_leg physical|logical: one full backup through a plan (see the top).
gateway_leg() {
    local method=$1 name="$1 gateway" file kind objects=() secs bytes cpu rss
    case $method in
    physical) file=$OUT/g.xb kind=xb ;;
    logical) file=$OUT/g.sql kind=sql objects=('[{"DBName":"bench"}]') ;;
    esac
    step "$name (plan on dbs-control)"
    sync
    echo 5 >"/proc/$AGENT_PID/clear_refs"
    "$ROOT/.bench/venv/bin/python" bench/backup_plan.py "$method" "$file" "${objects[@]}" >"$DBS_TESTRUN/leg.out"
    rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$AGENT_PID/status")
    read -r secs bytes cpu <"$DBS_TESTRUN/leg.out"
    check_set "$kind" "$file"
    rm -f "$file"
    record "$name" "$secs" "$rss" "$bytes" "${cpu%%:*}"
    printf '%s: %s s, CPU %s s (agent:control:server), agent peak RSS %s MiB, %s bytes\n' \
        "$name" "$secs" "${cpu#*:}" "$((rss / 1024))" "$bytes"
}

for _ in $(seq "$RUNS"); do
    gateway_leg physical
    reference_leg physical "$OUT"
    gateway_leg logical
    reference_leg logical "$OUT"
done

step "results: ${SIZE_MIB} MiB of rows in ${TABLES} tables, median of $RUNS run(s), $(nproc) cores"
print_results gateway

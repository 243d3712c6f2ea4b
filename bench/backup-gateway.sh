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
# durable before it is listed: the reference tools' files are left in the
# page cache, never synced), the set's size, and the
# agent's peak RSS during the leg (VmHWM, reset before each leg through
# /proc/PID/clear_refs). The agent's figure is the agent alone: the
# mariadb-backup it spawns is not counted in it; the reference legs' RSS is
# the tool's (GNU time). Each gateway set is downloaded afterwards (not timed)
# and checked as the tools' outputs are: the xbstream unpacks, the SQL ends
# with its completion marker.
#
# The data: TABLES InnoDB tables of ~200-byte rows, SIZE_MIB in all (default
# 2048), in a private MariaDB (buffer pool 1 GiB, binlog on). Each leg runs
# RUNS times (default 1), alternating; the table shows the median time and
# the highest peak RSS.
#
# PENDING MERGE: the gateway legs need backup plans in dbs-control and the
# agent's backup executor with its upload. Until they are merged,
# bench/backup_plan.py finds no CreateBackupPlan, the gateway legs say so and
# are left out, and the table shows the reference tools alone.
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
    DBS_GATEWAY_IDENTIFIER=bench-backup DBS_BENCH_MYSQL_PORT="$PORT"

# gateway_leg physical|logical: one full backup through a plan (see the top).
PENDING=
gateway_leg() {
    local method=$1 name="$1 gateway" file kind objects=() rc=0 secs bytes rss
    [ -z "$PENDING" ] || return 0
    case $method in
    physical) file=$OUT/g.xb kind=xb ;;
    logical) file=$OUT/g.sql kind=sql objects=('[{"DBName":"bench"}]') ;;
    esac
    step "$name (plan on dbs-control)"
    sync
    echo 5 >"/proc/$AGENT_PID/clear_refs"
    "$ROOT/.bench/venv/bin/python" bench/backup_plan.py "$method" "$file" "${objects[@]}" >"$DBS_TESTRUN/leg.out" || rc=$?
    if [ "$rc" -eq 3 ]; then
        PENDING="dbs-control has no backup plans yet: gateway legs left out (pending merge)"
        echo "$PENDING"
        return 0
    fi
    [ "$rc" -eq 0 ] || exit "$rc"
    rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$AGENT_PID/status")
    read -r secs bytes <"$DBS_TESTRUN/leg.out"
    check_set "$kind" "$file"
    rm -f "$file"
    record "$name" "$secs" "$rss" "$bytes"
    printf '%s: %s s, agent peak RSS %s MiB, %s bytes\n' "$name" "$secs" "$((rss / 1024))" "$bytes"
}

for _ in $(seq "$RUNS"); do
    gateway_leg physical
    reference_leg physical "$OUT"
    gateway_leg logical
    reference_leg logical "$OUT"
done

step "results: ${SIZE_MIB} MiB of rows in ${TABLES} tables, median of $RUNS run(s), $(nproc) cores"
print_results gateway
[ -z "$PENDING" ] || echo "($PENDING)"

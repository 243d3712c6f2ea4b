#!/usr/bin/env bash
# Full backups of one MariaDB by `dbs-gateway backup` beside the database's
# own tools, in the same run, on the same host and disk:
#
# - physical: `dbs-gateway backup --method physical` (mariadb-backup's
#   stream through the pipeline: CRC64, fsync, rename into the local
#   target) against `mariadb-backup --backup --stream=xbstream > file`;
# - logical: `dbs-gateway backup --method logical --threads N` (one
#   snapshot, N tables at once) against
#   `mariadb-dump --single-transaction --databases … > file`.
#
# The data: TABLES InnoDB tables of ~200-byte rows, SIZE_MIB in all (default
# 2048), in a private MariaDB (buffer pool 1 GiB, binlog on) under BENCH_DIR.
# Each leg runs RUNS times (default 1), alternating; the table shows the
# median time and the highest peak RSS (GNU time). Every output is checked:
# the xbstream unpacks (`mbstream -x`), the SQL ends with its own trailer
# (mariadb-dump's "Dump completed", the gateway's completion marker).
#
# Usage: bench/backup.sh   (SIZE_MIB=512 for a quick run)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE_MIB=${SIZE_MIB:-2048}
TABLES=${TABLES:-8}
THREADS=${THREADS:-4}
RUNS=${RUNS:-1}
export DBS_TESTRUN="${BENCH_DIR:-$ROOT/.benchrun-backup}"
rm -rf "$DBS_TESTRUN"
mkdir -p "$DBS_TESTRUN"

# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh
# shellcheck source=scripts/lib/services/mariadb.sh
source scripts/lib/services/mariadb.sh
# shellcheck source=bench/lib/measure.sh
source bench/lib/measure.sh
cleanup() {
    local rc=$?
    [ "$rc" -eq 0 ] || tail -n 20 "$DBS_TESTRUN"/mariadb-bench/error.log >&2 || true
    stop_all_services
    rm -rf "$DBS_TESTRUN"
}
trap cleanup EXIT

ensure_debian_packages mariadbd:mariadb-server mariadb:mariadb-client \
    mariadb-backup:mariadb-backup /usr/bin/time:time

step "starting a MariaDB"
PORT=$(free_port)
PASSWORD=$(random_hex 16)
_start_mariadb_instance bench "$PORT" "$PASSWORD" --log-bin=mysql-bin --server-id=1 \
    --innodb-buffer-pool-size=1G --innodb-log-file-size=512M
SQL=(mariadb --no-defaults --host=127.0.0.1 --port="$PORT" --user=dbs_admin)
export MYSQL_PWD=$PASSWORD

step "loading ${SIZE_MIB} MiB of rows into ${TABLES} tables"
ROWS=$((SIZE_MIB * 1024 * 1024 / 200 / TABLES))
"${SQL[@]}" -e "CREATE DATABASE bench"
for t in $(seq "$TABLES"); do
    "${SQL[@]}" bench -e "CREATE TABLE t$t (id BIGINT PRIMARY KEY, a INT, b DOUBLE,
        c VARCHAR(120), d DATETIME, e TEXT) ENGINE=InnoDB;
        INSERT INTO t$t SELECT seq, seq % 1000, seq / 7, SHA2(seq, 384), '2026-11-27 12:00:00' - INTERVAL seq SECOND,
            REPEAT(CHAR(65 + seq % 26), seq % 40) FROM seq_1_to_$ROWS;"
done
"${SQL[@]}" -e "SELECT ROUND(SUM(DATA_LENGTH + INDEX_LENGTH) / 1048576) AS 'MiB on disk' FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'bench'"

step "building dbs-gateway (release)"
cargo build --release --quiet --bin dbs-gateway
OUT=$DBS_TESTRUN/out
mkdir -p "$OUT" "$DBS_TESTRUN/state"
CONFIG=$DBS_TESTRUN/gateway.toml
cat >"$CONFIG" <<EOF
[gateway]
state_dir = "$DBS_TESTRUN/state"

[control]
endpoint = "http://127.0.0.1:9"
access_key_id = "unused-here"
access_key_secret = "unused-here"

[targets.local]
root = "$OUT"

[[databases]]
type = "mysql"
host = "127.0.0.1"
port = $PORT
user = "dbs_admin"
password = "$PASSWORD"
EOF
GW=("$ROOT/target/release/dbs-gateway" backup --config "$CONFIG" --host 127.0.0.1 --port "$PORT")

# A tool's leg: its stdout into a file, then that file fsynced, as the
# gateway fsyncs before it renames (like for like; GNU time counts the
# shell and the tool it waits for).
TO_FILE=(sh -c 'f=$1; shift; "$@" >"$f" && sync "$f"' sh)

check() {
    local kind=$1 file=$2
    case $kind in
    xb)
        mkdir -p "$DBS_TESTRUN/unpack"
        mbstream -x -C "$DBS_TESTRUN/unpack" <"$file" || { echo "$file: not a whole xbstream" >&2; exit 1; }
        rm -rf "$DBS_TESTRUN/unpack"
        ;;
    dump) tail -n 1 "$file" | grep -q "Dump completed" || { echo "$file: dump cut short" >&2; exit 1; } ;;
    sql) tail -n 1 "$file" | grep -q "logical backup complete" || { echo "$file: backup cut short" >&2; exit 1; } ;;
    esac
}

declare -A SECS RSS BYTES
run() {
    local name=$1 kind=$2 file=$3
    shift 3
    step "$name"
    rm -f "$file"
    sync
    read -r secs rss cpu < <(measure "$@")
    check "$kind" "$file"
    BYTES[$name]=$(stat -c %s "$file")
    rm -f "$file"
    SECS[$name]="${SECS[$name]:-} $secs"
    [ "$rss" -le "${RSS[$name]:-0}" ] || RSS[$name]=$rss
    printf '%s: %s s, CPU %s s, peak RSS %s MiB, %s bytes\n' "$name" "$secs" "$cpu" "$((rss / 1024))" "${BYTES[$name]}"
}

DEFAULTS=(--defaults-extra-file="$DBS_TESTRUN/client.cnf")
printf '[client]\npassword="%s"\n' "$PASSWORD" >"$DBS_TESTRUN/client.cnf"
chmod 600 "$DBS_TESTRUN/client.cnf"
for _ in $(seq "$RUNS"); do
    run "physical gateway" xb "$OUT/p.xb" "${GW[@]}" --method physical --to local --name p.xb
    run "physical mariadb-backup" xb "$OUT/p.xb" "${TO_FILE[@]}" "$OUT/p.xb" \
        mariadb-backup "${DEFAULTS[@]}" --backup --stream=xbstream --host=127.0.0.1 \
        --port="$PORT" --protocol=TCP --user=dbs_admin --target-dir="$DBS_TESTRUN/mb-target"
    run "logical gateway" sql "$OUT/l.sql" "${GW[@]}" --method logical --threads "$THREADS" \
        --objects '[{"DBName":"bench"}]' --to local --name l.sql
    run "logical mariadb-dump" dump "$OUT/l.sql" "${TO_FILE[@]}" "$OUT/l.sql" \
        mariadb-dump "${DEFAULTS[@]}" --host=127.0.0.1 --port="$PORT" --user=dbs_admin \
        --single-transaction --databases bench
done


step "results: ${SIZE_MIB} MiB of rows in ${TABLES} tables, median of $RUNS run(s), $THREADS threads, $(nproc) cores"
printf '%-9s %14s %14s %8s %16s %16s\n' backup "gateway MB/s" "tool MB/s" ratio "gateway RSS MiB" "tool RSS MiB"
for pair in "physical:physical mariadb-backup" "logical:logical mariadb-dump"; do
    kind=${pair%%:*} tool=${pair#*:}
    g=$(median <<<"${SECS["$kind gateway"]}") r=$(median <<<"${SECS[$tool]}")
    awk -v gb="${BYTES["$kind gateway"]}" -v tb="${BYTES[$tool]}" -v g="$g" -v r="$r" -v k="$kind" \
        -v ga="${RSS["$kind gateway"]}" -v tr="${RSS[$tool]}" \
        'BEGIN { printf "%-9s %14.1f %14.1f %8.2f %16.1f %16.1f\n", k, gb/g/1e6, tb/r/1e6, r/g, ga/1024, tr/1024 }'
done
echo "(MB/s: bytes each wrote per second; ratio: the tool's time over the gateway's, above 1 = the gateway is faster)"

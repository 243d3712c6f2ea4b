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
THREADS=${THREADS:-4}
export DBS_TESTRUN="${BENCH_DIR:-$ROOT/.benchrun-backup}"
# shellcheck source=bench/lib/backup-data.sh
source bench/lib/backup-data.sh
backup_bench_init

start_bench_mariadb
load_bench_rows "$SIZE_MIB" "$TABLES"

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

for _ in $(seq "$RUNS"); do
    run_leg "physical gateway" xb "$OUT/p.xb" "${GW[@]}" --method physical --to local --name p.xb
    reference_leg physical "$OUT"
    run_leg "logical gateway" sql "$OUT/l.sql" "${GW[@]}" --method logical --threads "$THREADS" \
        --objects '[{"DBName":"bench"}]' --to local --name l.sql
    reference_leg logical "$OUT"
done

step "results: ${SIZE_MIB} MiB of rows in ${TABLES} tables, median of $RUNS run(s), $THREADS threads, $(nproc) cores"
print_results gateway

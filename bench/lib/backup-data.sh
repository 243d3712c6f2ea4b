# The backup benchmarks' shared parts (bench/backup.sh, bench/backup-gateway.sh):
# their run directory, a private MariaDB filled with rows, the reference
# tools' legs (`mariadb-backup --backup --stream=xbstream > file`,
# `mariadb-dump --single-transaction > file`), the check that each output is
# whole, and the results table. Source it from the repository's root with
# DBS_TESTRUN set, then call backup_bench_init.

# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh
# shellcheck source=scripts/lib/services/mariadb.sh
source scripts/lib/services/mariadb.sh
# shellcheck source=bench/lib/measure.sh
source bench/lib/measure.sh

# backup_bench_init: SIZE_MIB (default 2048), TABLES (8) and RUNS (1)
# defaulted; a fresh $DBS_TESTRUN, removed with every server stopped on exit
# (the servers' last log lines shown on failure); the tools installed.
backup_bench_init() {
    SIZE_MIB=${SIZE_MIB:-2048} TABLES=${TABLES:-8} RUNS=${RUNS:-1}
    rm -rf "$DBS_TESTRUN"
    mkdir -p "$DBS_TESTRUN"
    trap _backup_bench_cleanup EXIT
    ensure_debian_packages mariadbd:mariadb-server mariadb:mariadb-client \
        mariadb-backup:mariadb-backup /usr/bin/time:time
}

_backup_bench_cleanup() {
    local rc=$?
    [ "$rc" -eq 0 ] || tail -n 20 "$DBS_TESTRUN"/mariadb-bench/error.log "$DBS_TESTRUN"/agent.log 2>/dev/null >&2 || true
    stop_all_services
    rm -rf "$DBS_TESTRUN"
}

# start_bench_mariadb: a MariaDB "bench" (buffer pool 1 GiB, binlog on);
# sets PORT, PASSWORD and SERVER_PID, the client SQL=(mariadb … --user=dbs_admin) with
# MYSQL_PWD exported, and DEFAULTS=(--defaults-extra-file=…) holding the
# password for the tools.
start_bench_mariadb() {
    step "starting a MariaDB"
    PORT=$(free_port)
    PASSWORD=$(random_hex 16)
    _start_mariadb_instance bench "$PORT" "$PASSWORD" --log-bin=mysql-bin --server-id=1 \
        --innodb-buffer-pool-size=1G --innodb-log-file-size=512M
    SERVER_PID=$(cat "$DBS_TESTRUN/mariadb-bench/mysqld.pid")
    SQL=(mariadb --no-defaults --host=127.0.0.1 --port="$PORT" --user=dbs_admin)
    export MYSQL_PWD=$PASSWORD
    DEFAULTS=(--defaults-extra-file="$DBS_TESTRUN/client.cnf")
    printf '[client]\npassword="%s"\n' "$PASSWORD" >"$DBS_TESTRUN/client.cnf"
    chmod 600 "$DBS_TESTRUN/client.cnf"
}

# load_bench_rows SIZE_MIB TABLES: database `bench`, TABLES InnoDB tables of
# ~200-byte rows, SIZE_MIB in all; prints their size on disk.
load_bench_rows() {
    local size_mib=$1 tables=$2 rows t
    step "loading ${size_mib} MiB of rows into ${tables} tables"
    rows=$((size_mib * 1024 * 1024 / 200 / tables))
    "${SQL[@]}" -e "CREATE DATABASE bench"
    for t in $(seq "$tables"); do
        "${SQL[@]}" bench -e "CREATE TABLE t$t (id BIGINT PRIMARY KEY, a INT, b DOUBLE,
            c VARCHAR(120), d DATETIME, e TEXT) ENGINE=InnoDB;
            INSERT INTO t$t SELECT seq, seq % 1000, seq / 7, SHA2(seq, 384), '2026-11-27 12:00:00' - INTERVAL seq SECOND,
                REPEAT(CHAR(65 + seq % 26), seq % 40) FROM seq_1_to_$rows;"
    done
    "${SQL[@]}" -e "SELECT ROUND(SUM(DATA_LENGTH + INDEX_LENGTH) / 1048576) AS 'MiB on disk' FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'bench'"
}

# check_set KIND FILE: fails unless FILE is a whole xbstream (xb), a whole
# mariadb-dump (dump) or a whole gateway logical set (sql).
check_set() {
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

# record NAME SECS RSS_KIB BYTES CPU_SECS: one measured leg, kept for
# print_results.
declare -A SECS RSS BYTES CPU
record() {
    local name=$1
    SECS[$name]="${SECS[$name]:-} $2"
    [ "$3" -le "${RSS[$name]:-0}" ] || RSS[$name]=$3
    BYTES[$name]=$4
    CPU[$name]="${CPU[$name]:-} $5"
}

# cpu_seconds PID…: the CPU seconds (user and system, with their waited-for
# children's) the processes have used so far.
cpu_seconds() {
    local pid ticks=0 hz
    hz=$(getconf CLK_TCK)
    for pid in "$@"; do
        ticks=$((ticks + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pid/stat")))
    done
    awk -v t="$ticks" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }'
}

# A tool's leg: its stdout into a file, then that file fsynced, as the
# gateway fsyncs before it renames (like for like; GNU time counts the
# shell and the tool it waits for).
TO_FILE=(sh -c 'f=$1; shift; "$@" >"$f" && sync "$f"' sh)

# run_leg NAME KIND FILE COMMAND…: runs COMMAND under GNU time, checks FILE,
# records and prints the leg (its CPU: the command's and the server's),
# removes FILE.
run_leg() {
    local name=$1 kind=$2 file=$3 secs rss cpu bytes server_before server
    shift 3
    step "$name"
    rm -f "$file"
    sync
    server_before=$(cpu_seconds "$SERVER_PID")
    read -r secs rss cpu < <(measure "$@")
    server=$(awk -v a="$(cpu_seconds "$SERVER_PID")" -v b="$server_before" 'BEGIN { printf "%.2f", a - b }')
    check_set "$kind" "$file"
    bytes=$(stat -c %s "$file")
    rm -f "$file"
    record "$name" "$secs" "$rss" "$bytes" "$(awk -v a="$cpu" -v b="$server" 'BEGIN { print a + b }')"
    printf '%s: %s s, CPU %s s (tool) + %s s (server), peak RSS %s MiB, %s bytes\n' "$name" "$secs" "$cpu" "$server" \
        "$((rss / 1024))" "$bytes"
}

# reference_leg physical|logical OUT_DIR: "physical mariadb-backup" or
# "logical mariadb-dump" of database `bench`.
reference_leg() {
    local out=$2
    case $1 in
    physical)
        run_leg "physical mariadb-backup" xb "$out/p.xb" "${TO_FILE[@]}" "$out/p.xb" \
            mariadb-backup "${DEFAULTS[@]}" --backup --stream=xbstream --host=127.0.0.1 \
            --port="$PORT" --protocol=TCP --user=dbs_admin --target-dir="$DBS_TESTRUN/mb-target"
        rm -rf "$DBS_TESTRUN/mb-target"
        ;;
    logical)
        run_leg "logical mariadb-dump" dump "$out/l.sql" "${TO_FILE[@]}" "$out/l.sql" \
            mariadb-dump "${DEFAULTS[@]}" --host=127.0.0.1 --port="$PORT" --user=dbs_admin \
            --single-transaction --databases bench
        ;;
    esac
}

# print_results GATEWAY_SUFFIX: the table of "KIND GATEWAY_SUFFIX" legs beside
# the reference tools' (MB/s, ratio, CPU, peak RSS), then every leg's times.
print_results() {
    local suffix=$1 pair kind tool mine name
    printf '%-9s %13s %10s %6s %14s %11s %16s %13s\n' backup "gateway MB/s" "tool MB/s" ratio \
        "gateway CPU s" "tool CPU s" "gateway RSS MiB" "tool RSS MiB"
    for pair in "physical:physical mariadb-backup" "logical:logical mariadb-dump"; do
        kind=${pair%%:*} tool=${pair#*:} mine="$kind $suffix"
        awk -v gb="${BYTES[$mine]}" -v tb="${BYTES[$tool]}" -v k="$kind" \
            -v g="$(median <<<"${SECS[$mine]}")" -v r="$(median <<<"${SECS[$tool]}")" \
            -v gc="$(median <<<"${CPU[$mine]}")" -v tc="$(median <<<"${CPU[$tool]}")" \
            -v ga="${RSS[$mine]}" -v tr="${RSS[$tool]}" \
            'BEGIN { printf "%-9s %13.1f %10.1f %6.2f %14.2f %11.2f %16.1f %13.1f\n",
                k, gb/g/1e6, tb/r/1e6, r/g, gc, tc, ga/1024, tr/1024 }'
    done
    echo "(MB/s: bytes each wrote per second; ratio: the tool's time over the gateway's, above 1 = the"
    echo " gateway is faster; CPU: median CPU seconds of every process of a leg, the database server's included)"
    for name in "physical $suffix" "physical mariadb-backup" "logical $suffix" "logical mariadb-dump"; do
        echo "times of $name, s:${SECS[$name]}"
    done
}

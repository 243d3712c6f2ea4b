#!/usr/bin/env bash
# Download throughput and memory of `dbs-gateway download` beside `curl -o`,
# in the same run, from the same signed URL served by dbs-control.
#
# - Data: a file of random bytes (from /dev/urandom, not sparse), 4 GiB by
#   default, plus a 1 GiB prefix of it to show that peak RSS does not grow
#   with the size of the set. Both are registered with
#   `dbs-control backup-set add` and fetched from their signed URLs, as the
#   agent does.
# - dbs-gateway (release build) verifies the size and the CRC64 the task
#   would carry, fsyncs the file and renames it; curl -o only writes.
# - Two destinations:
#   - tmpfs (/dev/shm): no disk in the way, so the figure is the pipeline
#     itself (network → checksum → file) against curl's;
#   - disk (BENCH_DIR, default target/bench-download): what an operator
#     gets. curl -o returns while the set is still in dirty pages; the
#     gateway returns once it is on disk, so "curl -o + sync" (curl, then
#     fsync of its file) is printed as the like-for-like figure.
# - Peak RSS from /usr/bin/time.
#
# Usage: bench/download.sh [SIZE_GIB]   (default 4; needs ~SIZE+2 GiB free on
# disk and SIZE GiB of free memory for the tmpfs runs, else they are skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_GIB=${1:-4}
WORK=${BENCH_DIR:-$PWD/target/bench-download}
SHM=/dev/shm/dbs-gateway-bench.$$
BIN=$PWD/target/release/dbs-gateway
CONTROL=$PWD/target/release/dbs-control

cargo build --release --bins >/dev/null

rm -rf "$WORK"
mkdir -p "$WORK/srv" "$WORK/out"
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$WORK" "$SHM"
}
trap cleanup EXIT

echo "creating ${SIZE_GIB} GiB of random bytes and a 1 GiB prefix..."
head -c "$((SIZE_GIB * 1024 * 1024 * 1024))" /dev/urandom >"$WORK/srv/big.bin"
head -c "$((1024 * 1024 * 1024))" "$WORK/srv/big.bin" >"$WORK/srv/small.bin"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$CONTROL" serve --listen "127.0.0.1:$port" --data-dir "$WORK/control" 2>"$WORK/control.log" &
server_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
declare -A SET_URL SET_CRC
for file in small.bin big.bin; do
    "$CONTROL" backup-set add --data-dir "$WORK/control" --plan bench --kind full --name "$file" \
        "$WORK/srv/$file" >"$WORK/added.json"
    id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["BackupSetId"])' "$WORK/added.json")
    SET_CRC[$file]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["CRC64"])' "$WORK/added.json")
    SET_URL[$file]=$("$CONTROL" backup-set url --data-dir "$WORK/control" --set "$id")
done
rm -f "$WORK/srv/big.bin" # dbs-control keeps its own copy; free the disk

# wall_secs FILE / peak_kib FILE: from a `/usr/bin/time -f '%e %M'` log.
wall_secs() { awk '{print $1}' "$1"; }
peak_kib() { awk '{print $2}' "$1"; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / s / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# run LABEL FILE DIR SYNC: downloads FILE into DIR with curl, then with
# dbs-gateway; with SYNC=1 also times an fsync of curl's file.
run() {
    local label=$1 file=$2 dir=$3 with_sync=$4 url=${SET_URL[$2]}
    local bytes
    bytes=$(stat -c %s "$WORK/srv/small.bin")
    [ "$file" = big.bin ] && bytes=$((SIZE_GIB * 1024 * 1024 * 1024))
    mkdir -p "$dir"
    cat "$WORK"/control/sets/* >/dev/null # the same warm page cache for both

    sync # each client starts with no dirty pages of the runs before
    /usr/bin/time -f '%e %M' -o "$WORK/curl.time" curl -sS -o "$dir/curl.bin" "$url"
    local c t0 t1 cs
    c=$(wall_secs "$WORK/curl.time")
    t0=$(date +%s.%N)
    [ "$with_sync" = 1 ] && sync "$dir/curl.bin"
    t1=$(date +%s.%N)
    cs=$(awk -v a="$c" -v b="$t0" -v d="$t1" 'BEGIN { print a + d - b }')
    rm -f "$dir/curl.bin"

    sync
    /usr/bin/time -f '%e %M' -o "$WORK/gw.time" "$BIN" download "$url" \
        --to "local:$dir/gw.bin" --crc64 "${SET_CRC[$file]}" --size "$bytes" \
        >"$WORK/gw.out" 2>"$WORK/gw.err" || { cat "$WORK/gw.err"; exit 1; }
    grep -q "^crc64ecma:${SET_CRC[$file]} " "$WORK/gw.out" || { echo "dbs-gateway: wrong checksum"; exit 1; }
    rm -f "$dir/gw.bin"
    local g
    g=$(wall_secs "$WORK/gw.time")

    printf '%-12s curl -o         %7.2f s %5s MB/s  peak RSS %6d KiB\n' "$label" "$c" "$(mbps "$bytes" "$c")" "$(peak_kib "$WORK/curl.time")"
    [ "$with_sync" = 1 ] && printf '%-12s curl -o + sync  %7.2f s %5s MB/s\n' "$label" "$cs" "$(mbps "$bytes" "$cs")"
    printf '%-12s dbs-gateway     %7.2f s %5s MB/s  peak RSS %6d KiB  (CRC64 verified, fsync, rename)\n' "$label" "$g" "$(mbps "$bytes" "$g")" "$(peak_kib "$WORK/gw.time")"
    if [ "$with_sync" = 1 ]; then
        printf '%-12s ratio dbs-gateway/curl -o: %s   dbs-gateway/(curl -o + sync): %s\n' "$label" "$(ratio "$c" "$g")" "$(ratio "$cs" "$g")"
    else
        printf '%-12s ratio dbs-gateway/curl -o: %s\n' "$label" "$(ratio "$c" "$g")"
    fi
    LAST_RSS=$(peak_kib "$WORK/gw.time")
}

free_shm_gib=$(df -B1G --output=avail /dev/shm 2>/dev/null | tail -1 | tr -d ' ' || echo 0)
echo "server: dbs-control (signed set URL)"
for dest in tmpfs disk; do
    if [ "$dest" = tmpfs ]; then
        if [ "${free_shm_gib:-0}" -le "$SIZE_GIB" ]; then
            echo "--- tmpfs: skipped (/dev/shm has ${free_shm_gib:-0} GiB free)"
            continue
        fi
        dir=$SHM sync_too=0
    else
        dir=$WORK/out sync_too=1
    fi
    echo "--- $dest"
    run "$dest 1GiB" small.bin "$dir" "$sync_too"
    rss_small=$LAST_RSS
    run "$dest ${SIZE_GIB}GiB" big.bin "$dir" "$sync_too"
    echo "$dest: dbs-gateway peak RSS ${rss_small} KiB at 1 GiB, ${LAST_RSS} KiB at ${SIZE_GIB} GiB (target: within 32 MiB = 32768 KiB)"
done

#!/usr/bin/env bash
# Download throughput and memory of `dbs-gateway download` beside `curl -o`,
# in the same run, from the same loopback HTTP server.
#
# - Data: a file of random bytes (from /dev/urandom, not sparse), 4 GiB by
#   default, plus a 1 GiB prefix of it to show that peak RSS does not grow
#   with the size of the set.
# - Server: dbs-control itself (default): both files are registered as
#   backup sets and fetched from their signed URLs, as the agent does.
#   BENCH_SERVER=range_server uses bench/range_server.py (Python, Range and
#   ETag, sendfile(2)); BENCH_SERVER=http.server python3's http.server (no
#   Range, a copy loop: slower).
# - dbs-gateway (release build) verifies SHA-256 and size and fsyncs the file
#   before renaming it; curl -o only writes. The "curl + sync" line adds an
#   fsync of curl's file for a like-for-like figure.
# - Peak RSS from /usr/bin/time -v.
#
# Usage: bench/download.sh [SIZE_GIB]      (default 4; needs ~2*SIZE+2 GiB free)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_GIB=${1:-4}
WORK=${BENCH_DIR:-$PWD/target/bench-download}
BIN=$PWD/target/release/dbs-gateway

cargo build --release --bins >/dev/null
CONTROL=$PWD/target/release/dbs-control

rm -rf "$WORK"
mkdir -p "$WORK/srv" "$WORK/out"
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "creating ${SIZE_GIB} GiB of random bytes and a 1 GiB prefix..."
head -c "$((SIZE_GIB * 1024 * 1024 * 1024))" /dev/urandom >"$WORK/srv/big.bin"
head -c "$((1024 * 1024 * 1024))" "$WORK/srv/big.bin" >"$WORK/srv/small.bin"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SERVER=${BENCH_SERVER:-dbs-control}
case "$SERVER" in
http.server)
    python3 -m http.server --bind 127.0.0.1 --directory "$WORK/srv" "$port" >/dev/null 2>&1 & ;;
range_server)
    python3 bench/range_server.py "$port" "$WORK/srv" >/dev/null 2>&1 & ;;
dbs-control)
    "$CONTROL" serve --listen "127.0.0.1:$port" --data-dir "$WORK/control" 2>"$WORK/control.log" & ;;
esac
server_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
declare -A SET_URL
for file in small.bin big.bin; do
    if [ "$SERVER" = dbs-control ]; then
        id=$("$CONTROL" backup-set add --data-dir "$WORK/control" --plan bench --kind full --name "$file" \
            "$WORK/srv/$file" | python3 -c 'import json,sys; print(json.load(sys.stdin)["BackupSetId"])')
        SET_URL[$file]=$("$CONTROL" backup-set url --data-dir "$WORK/control" --set "$id")
    else
        SET_URL[$file]="http://127.0.0.1:$port/$file"
    fi
done

# time_of FILE: seconds (wall) and peak RSS (KiB) from a /usr/bin/time -v log.
wall_secs() {
    awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, p, ":"); s = 0
        for (i = 1; i <= n; i++) s = s * 60 + p[i]
        print s }' "$1"
}
peak_kib() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / s / 1e6 }'; }

# run NAME FILE: downloads FILE with curl and with dbs-gateway; sets globals.
run() {
    local name=$1 file=$2 url=${SET_URL[$2]}
    local bytes sha
    bytes=$(stat -c %s "$WORK/srv/$file")
    sha=$(sha256sum "$WORK/srv/$file" | cut -d' ' -f1)
    cat "$WORK/srv/$file" >/dev/null # warm the page cache for both clients

    /usr/bin/time -v -o "$WORK/curl.time" curl -sS -o "$WORK/out/curl.bin" "$url"
    local t0 t1
    t0=$(date +%s.%N)
    sync "$WORK/out/curl.bin"
    t1=$(date +%s.%N)
    rm -f "$WORK/out/curl.bin"

    /usr/bin/time -v -o "$WORK/gw.time" "$BIN" download "$url" \
        --to "local:$WORK/out/gw.bin" --sha256 "$sha" --size "$bytes" \
        >"$WORK/gw.out" 2>"$WORK/gw.err" || { cat "$WORK/gw.err"; exit 1; }
    grep -q "^$sha " "$WORK/gw.out" || { echo "dbs-gateway: wrong sha256"; exit 1; }
    rm -f "$WORK/out/gw.bin"

    local c g cs
    c=$(wall_secs "$WORK/curl.time")
    g=$(wall_secs "$WORK/gw.time")
    cs=$(awk -v a="$c" -v b="$t0" -v d="$t1" 'BEGIN { print a + d - b }')
    printf '%-6s curl -o        %8.2f s %6s MB/s  peak RSS %6d KiB\n' "$name" "$c" "$(mbps "$bytes" "$c")" "$(peak_kib "$WORK/curl.time")"
    printf '%-6s curl -o + sync %8.2f s %6s MB/s\n' "$name" "$cs" "$(mbps "$bytes" "$cs")"
    printf '%-6s dbs-gateway    %8.2f s %6s MB/s  peak RSS %6d KiB  (sha256 verified, fsync)\n' "$name" "$g" "$(mbps "$bytes" "$g")" "$(peak_kib "$WORK/gw.time")"
    printf '%-6s ratio dbs-gateway/curl: %s (vs curl + sync: %s)\n' "$name" \
        "$(awk -v c="$c" -v g="$g" 'BEGIN { printf "%.2f", c / g }')" \
        "$(awk -v c="$cs" -v g="$g" 'BEGIN { printf "%.2f", c / g }')"
    LAST_RSS=$(peak_kib "$WORK/gw.time")
}

echo "server: $SERVER"
echo "--- 1 GiB"
run 1GiB small.bin
rss_small=$LAST_RSS
echo "--- ${SIZE_GIB} GiB"
run "${SIZE_GIB}GiB" big.bin
rss_big=$LAST_RSS
echo "dbs-gateway peak RSS: ${rss_small} KiB at 1 GiB, ${rss_big} KiB at ${SIZE_GIB} GiB (target: within 32 MiB = 32768 KiB)"

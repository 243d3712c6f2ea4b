#!/usr/bin/env bash
# Sends the same set (default 4 GiB; SIZE_MIB=… to change) from an HTTP URL
# to the FTP and the S3 test servers, once through dbs-gateway's sinks and
# once with `rclone copyurl` (Debian's rclone), in the same run, and prints
# the throughput of both, their ratio and the peak RSS of each process.
# Both sides verify the arrived bytes by SHA-256.
#
# The agent side is examples/remote_targets_bench.rs (HTTP body → SHA-256 →
# sink), since the one-shot CLI's `--to ftp:/minio:` is wired up separately.
# Part size and parallel parts are the same for both S3 clients
# (PART_MIB=16, IN_FLIGHT=4 by default).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE_MIB=${SIZE_MIB:-4096}
PART_MIB=${PART_MIB:-16}
IN_FLIGHT=${IN_FLIGHT:-4}
export DBS_TESTRUN="$ROOT/.benchrun"
rm -rf "$DBS_TESTRUN"
mkdir -p "$DBS_TESTRUN"

# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh
# shellcheck source=scripts/lib/services/ftp.sh
source scripts/lib/services/ftp.sh
# shellcheck source=scripts/lib/services/s3.sh
source scripts/lib/services/s3.sh
cleanup() { stop_all_services; rm -rf "$DBS_TESTRUN"; }
trap cleanup EXIT

ensure_debian_packages rclone:rclone /usr/bin/time:time
step "starting FTP and S3 servers"
start_ftp
start_s3

step "building the sink bench (release)"
cargo build --release --quiet --example remote_targets_bench
AGENT="$ROOT/target/release/examples/remote_targets_bench"

step "making a ${SIZE_MIB} MiB set and serving it over HTTP"
mkdir -p "$DBS_TESTRUN/www"
SET="$DBS_TESTRUN/www/set.xb"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$SET"
WANT=$(sha256sum "$SET" | cut -d' ' -f1)
HTTP_PORT=$(free_port)
python3 -m http.server -b 127.0.0.1 -d "$DBS_TESTRUN/www" "$HTTP_PORT" >/dev/null 2>&1 &
track_pid $!
wait_for_port "$HTTP_PORT" "HTTP server"
URL="http://127.0.0.1:$HTTP_PORT/set.xb"

# rclone remotes from the environment (no config file).
export RCLONE_CONFIG_BFTP_TYPE=ftp RCLONE_CONFIG_BFTP_HOST=127.0.0.1
export RCLONE_CONFIG_BFTP_PORT=$DBS_TEST_FTP_PORT RCLONE_CONFIG_BFTP_USER=$DBS_TEST_FTP_USER
RCLONE_CONFIG_BFTP_PASS=$(rclone obscure "$DBS_TEST_FTP_PASSWORD")
export RCLONE_CONFIG_BFTP_PASS
export RCLONE_CONFIG_BS3_TYPE=s3 RCLONE_CONFIG_BS3_PROVIDER=Other
export RCLONE_CONFIG_BS3_ENDPOINT=$DBS_TEST_S3_ENDPOINT RCLONE_CONFIG_BS3_REGION=$DBS_TEST_S3_REGION
export RCLONE_CONFIG_BS3_ACCESS_KEY_ID=$DBS_TEST_S3_ACCESS_KEY
export RCLONE_CONFIG_BS3_SECRET_ACCESS_KEY=$DBS_TEST_S3_SECRET_KEY
export RCLONE_CONFIG_BS3_FORCE_PATH_STYLE=true
RCLONE_FLAGS=(--config /dev/null --s3-chunk-size "${PART_MIB}M" --s3-upload-concurrency "$IN_FLIGHT")

# Runs a command under GNU time; prints "seconds peak_rss_kib".
measure() {
    local out="$DBS_TESTRUN/time.out"
    /usr/bin/time -f '%e %M' -o "$out" "$@" >"$DBS_TESTRUN/cmd.log" 2>&1 || {
        cat "$DBS_TESTRUN/cmd.log" >&2
        return 1
    }
    cat "$out"
}

check_sha() {
    local file=$1 who=$2 got
    got=$(sha256sum "$file" | cut -d' ' -f1)
    [ "$got" = "$WANT" ] || { echo "$who: SHA-256 mismatch ($got != $WANT)" >&2; exit 1; }
    rm -f "$file"
}

declare -A SECS RSS
run() {
    local name=$1 file=$2
    shift 2
    step "$name"
    read -r secs rss < <(measure "$@")
    check_sha "$file" "$name"
    SECS[$name]=$secs
    RSS[$name]=$rss
    printf '%s: %s s, peak RSS %s MiB\n' "$name" "$secs" "$((rss / 1024))"
}

FTPD=$DBS_TEST_FTP_ROOT
S3D=$DBS_TEST_S3_ROOT/$DBS_TEST_S3_BUCKET
run "ftp agent" "$FTPD/agent/set.xb" "$AGENT" "$URL" ftp:/agent set.xb
run "ftp rclone" "$FTPD/rclone/set.xb" rclone copyurl "${RCLONE_FLAGS[@]}" "$URL" bftp:rclone/set.xb
run "s3 agent" "$S3D/agent/set.xb" "$AGENT" "$URL" "minio:$DBS_TEST_S3_BUCKET/agent" set.xb "$PART_MIB" "$IN_FLIGHT"
run "s3 rclone" "$S3D/rclone/set.xb" rclone copyurl "${RCLONE_FLAGS[@]}" "$URL" "bs3:$DBS_TEST_S3_BUCKET/rclone/set.xb"

step "results: ${SIZE_MIB} MiB, S3 parts ${PART_MIB} MiB x ${IN_FLIGHT} in flight, $(nproc) cores"
printf '%-8s %12s %12s %8s %16s %16s\n' target "agent MB/s" "rclone MB/s" ratio "agent RSS MiB" "rclone RSS MiB"
for t in ftp s3; do
    a=${SECS["$t agent"]} r=${SECS["$t rclone"]}
    awk -v n="$((SIZE_MIB * 1024 * 1024))" -v a="$a" -v r="$r" -v t="$t" \
        -v ra="${RSS["$t agent"]}" -v rr="${RSS["$t rclone"]}" \
        'BEGIN { printf "%-8s %12.1f %12.1f %8.2f %16.1f %16.1f\n", t, n/a/1e6, n/r/1e6, r/a, ra/1024, rr/1024 }'
done

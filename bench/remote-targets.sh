#!/usr/bin/env bash
# Sends the same set (default 4 GiB; SIZE_MIB=… to change) to an FTP and an
# S3 test server, once with `dbs-gateway download --to ftp:/minio:` and once
# with `rclone copyurl` (Debian's rclone), in the same run, and prints the
# throughput of both, their ratio and the peak RSS of each process. The set
# is served by dbs-control from its signed URL, as the agent gets it. Both
# sides are checked by the SHA-256 of what arrived; dbs-gateway also
# verifies the CRC64 the task would carry.
#
# The FTP server is Debian's pure-ftpd (bench/lib/pure-ftpd.sh),
# a native server that outruns both clients, not the tests' pyftpdlib, which
# is single-threaded Python and would cap both at its own speed. It needs
# root (installed with apt-get when missing; it changes uid per session).
#
# The S3 server is Garage (bench/lib/garage.sh; S3_SERVER=s3s-fs for the
# tests' server): s3s-fs copies the whole object again at
# CompleteMultipartUpload, which costs either client the same many seconds.
# What arrived in S3 is read back over S3 for the check.
#
# Part size and parallel parts are the same for both S3 clients
# (PART_MIB=16, IN_FLIGHT=4 by default). TARGETS="ftp" or "s3" runs one.
# Each pair of legs runs RUNS times (default 3), alternating; the table shows
# the median time of each client and the highest peak RSS.
# BENCH_DIR (default .benchrun) holds the set and the servers' data;
# BENCH_DIR=/dev/shm/… takes the disk out of the comparison (needs about
# 3 × the set size of free memory).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE_MIB=${SIZE_MIB:-4096}
PART_MIB=${PART_MIB:-16}
IN_FLIGHT=${IN_FLIGHT:-4}
TARGETS=${TARGETS:-ftp s3}
RUNS=${RUNS:-3}
S3_SERVER=${S3_SERVER:-garage}
export DBS_TESTRUN="${BENCH_DIR:-$ROOT/.benchrun}"
rm -rf "$DBS_TESTRUN"
mkdir -p "$DBS_TESTRUN"

# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh
# shellcheck source=bench/lib/pure-ftpd.sh
source bench/lib/pure-ftpd.sh
# shellcheck source=scripts/lib/services/s3.sh
source scripts/lib/services/s3.sh
# shellcheck source=bench/lib/garage.sh
source bench/lib/garage.sh
# shellcheck source=bench/lib/measure.sh
source bench/lib/measure.sh
cleanup() {
    local rc=$?
    [ "$rc" -eq 0 ] || tail -n 20 "$DBS_TESTRUN"/ftp-native/server.log "$DBS_TESTRUN"/s3/server.log "$DBS_TESTRUN"/garage/server.log >&2 || true
    stop_all_services
    rm -rf "$DBS_TESTRUN"
}
trap cleanup EXIT

ensure_debian_packages rclone:rclone /usr/bin/time:time
step "starting FTP and S3 servers"
start_ftp_native
case $S3_SERVER in
garage) start_garage ;;
s3s-fs) start_s3 ;;
*) echo "unknown S3_SERVER $S3_SERVER (garage, s3s-fs)" >&2; exit 2 ;;
esac

step "building dbs-gateway and dbs-control (release)"
cargo build --release --quiet --bins
AGENT="$ROOT/target/release/dbs-gateway"
CONTROL="$ROOT/target/release/dbs-control"

step "making a ${SIZE_MIB} MiB set and serving it from dbs-control"
SET="$DBS_TESTRUN/set.xb"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$SET"
WANT=$(sha256sum "$SET" | cut -d' ' -f1)
HTTP_PORT=$(free_port)
"$CONTROL" serve --listen "127.0.0.1:$HTTP_PORT" --data-dir "$DBS_TESTRUN/control" \
    2>"$DBS_TESTRUN/control.log" &
track_pid $!
wait_for_port "$HTTP_PORT" "dbs-control"
"$CONTROL" backup-set add --data-dir "$DBS_TESTRUN/control" --plan bench --kind full \
    --name set.xb "$SET" >"$DBS_TESTRUN/added.json"
rm -f "$SET"
json() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
CRC=$(json "$DBS_TESTRUN/added.json" CRC64)
SET_ID=$(json "$DBS_TESTRUN/added.json" BackupSetId)
URL=$("$CONTROL" backup-set url --data-dir "$DBS_TESTRUN/control" --set "$SET_ID")

# The gateway's targets, as an operator writes them in gateway.toml.
GW_CONFIG="$DBS_TESTRUN/gateway.toml"
cat >"$GW_CONFIG" <<TOML
[gateway]
state_dir = "$DBS_TESTRUN/gw-state"

[control]
endpoint = "http://127.0.0.1:$HTTP_PORT"
access_key_id = "unused-by-download"
access_key_secret = "unused-by-download"

[targets.ftp]
host = "127.0.0.1"
port = $DBS_TEST_FTP_PORT
user = "$DBS_TEST_FTP_USER"
password = "$DBS_TEST_FTP_PASSWORD"

[targets.minio]
endpoint = "$DBS_TEST_S3_ENDPOINT"
bucket = "$DBS_TEST_S3_BUCKET"
region = "$DBS_TEST_S3_REGION"
access_key_id = "$DBS_TEST_S3_ACCESS_KEY"
secret_access_key = "$DBS_TEST_S3_SECRET_KEY"
path_style = true
part_size_mib = $PART_MIB
parts_in_flight = $IN_FLIGHT
TOML
GW=("$AGENT" download "$URL" --config "$GW_CONFIG" --crc64 "$CRC")

# rclone remotes from the environment (no config file). The endpoint is plain
# HTTP; a custom CA bundle in the environment makes rclone's S3 client fail.
unset AWS_CA_BUNDLE
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

# Checks what arrived (a file, or bs3:BUCKET/KEY read back over S3) and
# removes it.
check_sha() {
    local where=$1 who=$2 got
    case $where in
    bs3:*) got=$(rclone cat --config /dev/null "$where" | sha256sum | cut -d' ' -f1) ;;
    *) got=$(sha256sum "$where" | cut -d' ' -f1) ;;
    esac
    [ "$got" = "$WANT" ] || { echo "$who: SHA-256 mismatch ($got != $WANT)" >&2; exit 1; }
    case $where in
    bs3:*) rclone deletefile --config /dev/null "$where" ;;
    *) rm -f "$where" ;;
    esac
}

declare -A SECS RSS
run() {
    local name=$1 file=$2
    shift 2
    step "$name"
    sync # every leg starts with no dirty pages of the legs before
    read -r secs rss cpu < <(measure "$@")
    check_sha "$file" "$name"
    SECS[$name]="${SECS[$name]:-} $secs"
    [ "$rss" -le "${RSS[$name]:-0}" ] || RSS[$name]=$rss
    printf '%s: %s s, CPU %s s, peak RSS %s MiB\n' "$name" "$secs" "$cpu" "$((rss / 1024))"
}

FTPD=$DBS_TEST_FTP_ROOT
mkdir -p "$FTPD/rclone" # rclone's FTP backend does not create the remote dir for copyurl
chown --reference="$FTPD" "$FTPD/rclone" # the FTP user (not root) writes there
S3=bs3:$DBS_TEST_S3_BUCKET
for t in $TARGETS; do
    # Garage stores a block once however often it arrives: one untimed
    # upload first, so every timed leg finds the store in the same state.
    [ "$t" != s3 ] || rclone copyurl "${RCLONE_FLAGS[@]}" "$URL" "$S3/warmup/set.xb"
    for _ in $(seq "$RUNS"); do
        case $t in
        ftp)
            run "ftp agent" "$FTPD/agent/$SET_ID" "${GW[@]}" --to ftp:agent
            run "ftp rclone" "$FTPD/rclone/set.xb" rclone copyurl "${RCLONE_FLAGS[@]}" "$URL" bftp:rclone/set.xb
            ;;
        s3)
            run "s3 agent" "$S3/agent/$SET_ID" "${GW[@]}" --to "minio:$DBS_TEST_S3_BUCKET/agent"
            run "s3 rclone" "$S3/rclone/set.xb" rclone copyurl "${RCLONE_FLAGS[@]}" "$URL" "bs3:$DBS_TEST_S3_BUCKET/rclone/set.xb"
            ;;
        *) echo "unknown target $t (ftp, s3)" >&2; exit 2 ;;
        esac
    done
done


step "results: ${SIZE_MIB} MiB, median of $RUNS runs, S3 ($S3_SERVER) parts ${PART_MIB} MiB x ${IN_FLIGHT} in flight, $(nproc) cores"
printf '%-8s %12s %12s %8s %16s %16s\n' target "agent MB/s" "rclone MB/s" ratio "agent RSS MiB" "rclone RSS MiB"
for t in $TARGETS; do
    a=$(median <<<"${SECS["$t agent"]}") r=$(median <<<"${SECS["$t rclone"]}")
    awk -v n="$((SIZE_MIB * 1024 * 1024))" -v a="$a" -v r="$r" -v t="$t" \
        -v ra="${RSS["$t agent"]}" -v rr="${RSS["$t rclone"]}" \
        'BEGIN { printf "%-8s %12.1f %12.1f %8.2f %16.1f %16.1f\n", t, n/a/1e6, n/r/1e6, r/a, ra/1024, rr/1024 }'
done

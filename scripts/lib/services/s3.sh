# S3-compatible test server: s3s-fs (from the s3s project, a Rust S3 server
# storing objects as files; SigV4 authentication, multipart upload, ListParts,
# AbortMultipartUpload), built once with `cargo install` into a cache keyed by
# its version, so a fresh machine builds it once and later runs reuse it.
# 0.14.1 is the newest release that builds with our toolchain (1.95); it does
# not implement ListMultipartUploads, see docs/targets-remote.md.
#
# Exports DBS_TEST_S3_ENDPOINT/ACCESS_KEY/SECRET_KEY/BUCKET/REGION,
# DBS_TEST_S3_ROOT (its data dir: one directory per bucket) and
# DBS_TEST_S3_SERVER (the binary; tests that kill and restart a server run
# their own: `$DBS_TEST_S3_SERVER --host 127.0.0.1 --port P --access-key A
# --secret-key S DIR`).

S3S_FS_VERSION=0.14.1
SERVICE_STARTERS+=(start_s3)

# Prints the path of the s3s-fs binary, building it first when not cached.
ensure_s3s_fs() {
    local root="${DBS_TEST_CACHE:-$HOME/.cache/dbs-gateway-test}/s3s-fs-$S3S_FS_VERSION"
    if [ ! -x "$root/bin/s3s-fs" ]; then
        echo "building s3s-fs $S3S_FS_VERSION into $root (once)" >&2
        cargo install "s3s-fs@$S3S_FS_VERSION" --features binary --locked \
            --root "$root" --quiet >&2
    fi
    echo "$root/bin/s3s-fs"
}

start_s3() {
    local dir="$DBS_TESTRUN/s3" port
    port=$(free_port)
    mkdir -p "$dir/data"
    DBS_TEST_S3_SERVER=$(ensure_s3s_fs)
    export DBS_TEST_S3_SERVER
    export DBS_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
    export DBS_TEST_S3_ACCESS_KEY=dbstestkey
    export DBS_TEST_S3_SECRET_KEY="s3-$(random_hex 12)"
    export DBS_TEST_S3_BUCKET=dbs-backups
    export DBS_TEST_S3_REGION=us-east-1
    export DBS_TEST_S3_ROOT="$dir/data"
    mkdir -p "$DBS_TEST_S3_ROOT/$DBS_TEST_S3_BUCKET"
    "$DBS_TEST_S3_SERVER" --host 127.0.0.1 --port "$port" \
        --access-key "$DBS_TEST_S3_ACCESS_KEY" --secret-key "$DBS_TEST_S3_SECRET_KEY" \
        "$DBS_TEST_S3_ROOT" >"$dir/server.log" 2>&1 &
    track_pid $!
    wait_for_port "$port" "S3 server (s3s-fs)"
}

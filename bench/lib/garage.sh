# shellcheck shell=bash
# S3 server for bench/remote-targets.sh: Garage (a self-hosted, Rust S3
# object store), one node on 127.0.0.1. The tests' s3s-fs
# (scripts/lib/services/s3.sh) answers CompleteMultipartUpload by copying
# the whole object again on one core, which dominates a multi-GiB upload:
# a benchmark against it measures the server. Garage stores an object as
# 1 MiB content-addressed blocks, so completing an upload only writes
# metadata and the bench measures the client.
#
# Garage 2.5.0, built once with `cargo install` into
# ${DBS_TEST_CACHE:-~/.cache/dbs-gateway-test}/garage-2.5.0 (the newest
# release; it builds with our toolchain, 1.95, in about 17 minutes on 2
# cores; later runs reuse it).
#
# Config: $DBS_TESTRUN/garage/garage.toml (the admin CLI works against the
# running node: `garage -c $DBS_TESTRUN/garage/garage.toml bucket info
# dbs-backups`). replication_factor = 1; LMDB metadata (Garage's default
# engine); no fsync of metadata or data (Garage's defaults); no zstd
# compression (the bench sends random data); the region is us-east-1, not
# Garage's usual "garage"; only path-style requests (no root_domain); the
# RPC, S3 and admin ports all listen on 127.0.0.1. `server --single-node
# --default-bucket` lays out the node and creates the key and the bucket
# (read, write, owner) before the S3 port opens, so waiting for the port is
# enough. Logs (one line per request, no colours) go to
# $DBS_TESTRUN/garage/server.log.
#
# Exports the same variables as start_s3: DBS_TEST_S3_ENDPOINT/ACCESS_KEY/
# SECRET_KEY/BUCKET/REGION, and DBS_TEST_S3_ROOT: Garage's data dir, which
# holds hashed blocks, NOT one file per object: read objects back over S3
# (e.g. `rclone cat`), not from disk. DBS_TEST_S3_SERVER is not set (the
# s3s-fs command line does not apply).

GARAGE_VERSION=2.5.0

# Prints the path of the garage binary, building it first when not cached.
ensure_garage() {
    local root="${DBS_TEST_CACHE:-$HOME/.cache/dbs-gateway-test}/garage-$GARAGE_VERSION"
    if [ ! -x "$root/bin/garage" ]; then
        echo "building garage $GARAGE_VERSION into $root (once, ~15 min)" >&2
        cargo install "garage@$GARAGE_VERSION" --locked --root "$root" --quiet >&2
    fi
    echo "$root/bin/garage"
}

start_garage() {
    local dir="$DBS_TESTRUN/garage" bin conf s3_port rpc_port admin_port
    bin=$(ensure_garage)
    s3_port=$(free_port)
    rpc_port=$(free_port)
    admin_port=$(free_port)
    conf="$dir/garage.toml"
    mkdir -p "$dir/meta" "$dir/data"
    export DBS_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"
    export DBS_TEST_S3_ACCESS_KEY=dbstestkey
    DBS_TEST_S3_SECRET_KEY="s3-$(random_hex 12)"
    export DBS_TEST_S3_SECRET_KEY
    export DBS_TEST_S3_BUCKET=dbs-backups
    export DBS_TEST_S3_REGION=us-east-1
    export DBS_TEST_S3_ROOT="$dir/data"
    (umask 077 && cat >"$conf" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$DBS_TEST_S3_ROOT"
db_engine = "lmdb"
replication_factor = 1
compression_level = "none"

rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(random_hex 32)"

[s3_api]
api_bind_addr = "127.0.0.1:$s3_port"
s3_region = "$DBS_TEST_S3_REGION"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
admin_token = "$(random_hex 32)"
TOML
    )
    GARAGE_DEFAULT_ACCESS_KEY=$DBS_TEST_S3_ACCESS_KEY \
        GARAGE_DEFAULT_SECRET_KEY=$DBS_TEST_S3_SECRET_KEY \
        GARAGE_DEFAULT_BUCKET=$DBS_TEST_S3_BUCKET NO_COLOR=1 \
        "$bin" -c "$conf" server --single-node --default-bucket >"$dir/server.log" 2>&1 &
    track_pid $!
    wait_for_port "$s3_port" "S3 server (garage)"
}

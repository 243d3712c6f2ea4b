#!/usr/bin/env bash
# Runs every test of the project: installs what the tests need (Debian
# packages when run as root, a Python venv with the official SDKs), starts the
# real servers they talk to on loopback under .testrun/, runs `cargo test` and
# the SDK tests, and stops the servers again, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export DBS_TESTRUN="$ROOT/.testrun"
rm -rf "$DBS_TESTRUN"
mkdir -p "$DBS_TESTRUN"

# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh
trap stop_all_services EXIT

for f in scripts/lib/services/*.sh; do
    # shellcheck disable=SC1090
    source "$f"
done

step "installing test dependencies"
ensure_debian_packages "${TEST_DEBIAN_PACKAGES[@]}"
ensure_python_venv "$DBS_TESTRUN/venv"

step "starting servers"
for start in "${SERVICE_STARTERS[@]}"; do
    "$start"
done

step "building"
cargo build --all-targets

step "cargo test"
cargo test --all-targets --no-fail-fast -- --test-threads=4

# --- packaging (issue 7): .deb/.rpm, units, notify socket; as root -----------
step "packaging tests (scripts/package-test.sh)"
scripts/package-test.sh
# ---------------------------------------------------------------------------

step "SDK tests (pytest)"
DBS_BIN_DIR="$ROOT/target/debug" "$DBS_TESTRUN/venv/bin/python" -m pytest -q tests/sdk

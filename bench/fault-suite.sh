#!/usr/bin/env bash
# The fault suite (run by hand, as root): starts the FTP and S3 test servers
# on loopback, builds the binaries, and runs bench/fault_suite.py, which
# breaks agents, the control plane and targets while sets download, then
# prints one table row per case. See bench/fault_suite.py for the cases and
# the columns.
#
# Usage: bench/fault-suite.sh          (CASES=agent-kill,crash-loop to run some;
#        DOWN_SECS=120 for the control-plane outage; SEED for the kill times)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export DBS_TESTRUN="$ROOT/.bench/fault-suite"
rm -rf "$DBS_TESTRUN"
mkdir -p "$DBS_TESTRUN"
export FAULT_DIR="$DBS_TESTRUN/cases"

# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh
trap stop_all_services EXIT
for f in scripts/lib/services/*.sh; do
    # shellcheck disable=SC1090
    source "$f"
done
ensure_debian_packages "${TEST_DEBIAN_PACKAGES[@]}"
ensure_python_venv "$DBS_TESTRUN/venv"
start_ftp
start_s3
cargo build --quiet --bins
DBS_BIN_DIR="$ROOT/target/debug" "$DBS_TESTRUN/venv/bin/python" bench/fault_suite.py

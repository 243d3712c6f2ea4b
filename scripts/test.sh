#!/usr/bin/env bash
# Runs every check of the project: the format and the lints first, then
# installs what the tests need (Debian packages when run as root, a Python
# venv with the official SDKs), starts the real servers they talk to on
# loopback under .testrun/, runs `cargo test` and the SDK tests, and stops the
# servers again, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export DBS_TESTRUN="$ROOT/.testrun"
rm -rf "$DBS_TESTRUN"
mkdir -p "$DBS_TESTRUN"

# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh
trap stop_all_services EXIT

# cargo fmt and cargo clippy, added through rustup when missing.
ensure_rust_components() {
    local missing=()
    cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
    cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v rustup >/dev/null 2>&1; then
        echo "missing cargo components: ${missing[*]}, and no rustup to add them with" >&2
        return 1
    fi
    rustup component add "${missing[@]}" || {
        echo "could not add ${missing[*]} with rustup" >&2
        return 1
    }
}

# The habits first: unformatted code or a lint fails before any server starts.
step "cargo fmt --check"
ensure_rust_components
cargo fmt --check

step "cargo clippy"
cargo clippy --all-targets -- -D warnings

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

# Packaging: .deb/.rpm, units, notify socket; as root.
step "packaging tests (scripts/package-test.sh)"
scripts/package-test.sh

step "SDK tests (pytest)"
DBS_BIN_DIR="$ROOT/target/debug" "$DBS_TESTRUN/venv/bin/python" -m pytest -q tests/sdk

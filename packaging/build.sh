#!/usr/bin/env bash
# Builds the dbs-gateway .deb (cargo-deb) and .rpm (cargo-generate-rpm) into
# target/packages/. Both read their metadata from Cargo.toml
# ([package.metadata.deb], [package.metadata.generate-rpm]) and the files in
# packaging/ and systemd/.
#
#   packaging/build.sh                  release build, then both packages
#   packaging/build.sh --profile dev --no-build --fast
#                                       package the debug binaries already in
#                                       target/debug (what scripts/package-test.sh does)
#
# cargo-deb and cargo-generate-rpm are installed with `cargo install --locked`
# at pinned versions into $DBS_TOOLS_DIR (default ~/.cache/dbs-gateway-tools)
# when missing there; that takes several minutes once (see docs/install.md).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1
TOOLS=${DBS_TOOLS_DIR:-$HOME/.cache/dbs-gateway-tools}
OUT=target/packages

profile=release
build=1
deb_flags=()
while [ $# -gt 0 ]; do
    case $1 in
        --profile) profile=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --fast) deb_flags+=(--fast); shift ;;
        *) echo "usage: $0 [--profile PROFILE] [--no-build] [--fast]" >&2; exit 2 ;;
    esac
done

# ensure_tool CRATE VERSION: cargo-install CRATE at VERSION into $TOOLS unless there.
ensure_tool() {
    local crate=$1 version=$2 start
    if "$TOOLS/bin/$crate" --version 2>/dev/null | grep -qF "$version"; then
        return 0
    fi
    echo "installing $crate $version into $TOOLS" >&2
    start=$(date +%s)
    cargo install --quiet --locked --root "$TOOLS" "$crate@$version"
    echo "installed $crate $version in $(($(date +%s) - start)) s" >&2
}

ensure_tool cargo-deb "$CARGO_DEB_VERSION"
ensure_tool cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION"
export PATH="$TOOLS/bin:$PATH"

if [ "$build" = 1 ]; then
    cargo build --locked --profile "$profile" --bins
fi

mkdir -p "$OUT"
rm -rf "$OUT"/*.deb "$OUT"/*.rpm "$OUT/stage"
# With --profile dev cargo-deb warns that it is meant for releases; the test
# packages debug binaries on purpose, to skip a second full build.
cargo deb --no-build --profile "$profile" "${deb_flags[@]}" --output "$OUT/"
# cargo-generate-rpm packs binaries as they are; a release build is already
# stripped (profile.release.strip), other profiles are stripped into a
# staging target dir first.
rpm_target=target
if [ "$profile" != release ]; then
    dir=$profile
    [ "$dir" = dev ] && dir=debug
    rpm_target=$OUT/stage
    mkdir -p "$rpm_target/$dir"
    for bin in dbs-gateway dbs-control; do
        strip -o "$rpm_target/$dir/$bin" "target/$dir/$bin"
    done
fi
cargo generate-rpm --profile "$profile" --target-dir "$rpm_target" --output "$OUT/"
rm -rf "$OUT/stage"

ls "$OUT"/*.deb "$OUT"/*.rpm

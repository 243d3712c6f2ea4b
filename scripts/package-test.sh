#!/usr/bin/env bash
# Packaging tests, run as root by scripts/test.sh (or alone, after
# `cargo build --bins`): builds the .deb and .rpm from the debug binaries
# (packaging/build.sh --profile dev: no second full build), then on this
# machine
#   - installs the .deb with dpkg and checks files, owners, modes, the system
#     users and the conffile;
#   - runs `dbs-gateway version`, and `dbs-gateway check` on the shipped,
#     not-configured gateway.toml (must fail, naming what to set);
#   - verifies both installed units with `systemd-analyze verify` and prints
#     their `systemd-analyze security` exposure;
#   - starts dbs-control and the agent under a notify socket (a Python
#     AF_UNIX datagram listener with NOTIFY_SOCKET/WATCHDOG_USEC, as systemd
#     would) and waits for READY=1, WATCHDOG=1 and, after SIGTERM, STOPPING=1;
#   - edits the config, reinstalls and upgrades, and finds the edit kept;
#   - removes, then purges, and checks what is left after each;
#   - checks the .rpm with `rpm -qlp`, `rpm -qp --scripts` and its file
#     attributes, and runs lintian on the .deb (errors fail).
# It purges the dbs-gateway package from this machine, before and after, and
# deletes /etc/dbs-gateway and /var/lib/dbs-{gateway,control}: do not run it
# where the package is installed for real.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh

if [ "$(id -u)" -ne 0 ]; then
    echo "package-test: must run as root (it installs the package with dpkg); run scripts/test.sh as root" >&2
    exit 1
fi
ensure_debian_packages lintian:lintian rpm:rpm systemd-analyze:systemd python3:python3

# One run at a time per machine: runs from several checkouts share dpkg's
# database, /etc/dbs-gateway and the system users.
exec 9>/run/lock/dbs-gateway-package-test.lock
if ! flock -n 9; then
    echo "package-test: another run holds /run/lock/dbs-gateway-package-test.lock; waiting (up to 30 min)"
    flock -w 1800 9 || { echo "package-test: FAIL: gave up waiting for the other run" >&2; exit 1; }
fi

WORK=${DBS_TESTRUN:-$ROOT/.testrun}/package-test
rm -rf "$WORK"
mkdir -p "$WORK"
PASSED=0

pass() { PASSED=$((PASSED + 1)); echo "ok: $*"; }
fail() {
    echo "package-test: FAIL: $*" >&2
    exit 1
}
# expect_stat PATH "USER:GROUP MODE"
expect_stat() {
    local got
    got=$(stat -c '%U:%G %a' "$1" 2>/dev/null) || fail "$1 is missing"
    [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
    pass "$1 $2"
}
expect_absent() {
    [ ! -e "$1" ] || fail "$1 still exists"
    pass "$1 absent"
}
# expect_in TEXT NEEDLE WHAT
expect_in() {
    grep -qF -- "$2" <<<"$1" || fail "$3: no '$2' in: $1"
    pass "$3 has '$2'"
}
package_status() { dpkg-query -W -f '${db:Status-Abbrev}' dbs-gateway 2>/dev/null | tr -d ' ' || true; }

cleanup() {
    local pid
    for pid in "${TRACKED_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${TRACKED_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$(package_status)" ]; then
        dpkg --purge dbs-gateway >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

if [ -n "$(package_status)" ]; then
    echo "package-test: dbs-gateway is installed here ($(package_status)); purging it first"
    dpkg --purge dbs-gateway >/dev/null
fi
# Leftovers of an interrupted run would make the install look like an upgrade.
rm -rf /etc/dbs-gateway /var/lib/dbs-gateway /var/lib/dbs-control

step "package-test: building the .deb and .rpm from target/debug"
[ -x target/debug/dbs-gateway ] && [ -x target/debug/dbs-control ] || cargo build --bins
packaging/build.sh --profile dev --no-build --fast
DEB=$(ls target/packages/dbs-gateway_*.deb)
RPM=$(ls target/packages/dbs-gateway-*.rpm)
VERSION=$(dpkg-deb -f "$DEB" Version)
ls -l "$DEB" "$RPM"

step "package-test: install with dpkg"
dpkg -i "$DEB"
[ "$(package_status)" = ii ] || fail "dpkg status after install is '$(package_status)'"
pass "dpkg status ii"
expect_stat /usr/bin/dbs-gateway "root:root 755"
expect_stat /usr/bin/dbs-control "root:root 755"
expect_stat /usr/lib/systemd/system/dbs-gateway.service "root:root 644"
expect_stat /usr/lib/systemd/system/dbs-control.service "root:root 644"
expect_stat /usr/lib/sysusers.d/dbs-gateway.conf "root:root 644"
expect_stat /etc/dbs-gateway "root:dbs-gateway 750"
expect_stat /etc/dbs-gateway/gateway.toml "root:dbs-gateway 640"
expect_stat /var/lib/dbs-gateway "dbs-gateway:dbs-gateway 750"
expect_stat /var/lib/dbs-control "dbs-control:dbs-control 700"
cmp -s packaging/gateway.toml /etc/dbs-gateway/gateway.toml || fail "installed gateway.toml differs from packaging/gateway.toml"
pass "gateway.toml is the shipped example"
expect_in "$(dpkg-query -W -f '${Conffiles}' dbs-gateway)" /etc/dbs-gateway/gateway.toml "conffiles"
for user in dbs-gateway dbs-control; do
    IFS=: read -r _ _ uid gid _ home shell <<<"$(getent passwd "$user")" || fail "no user $user"
    [ "$uid" -lt 1000 ] || fail "$user has uid $uid, not a system uid"
    [ "$home" = "/var/lib/$user" ] || fail "$user has home $home"
    [ "$shell" = /usr/sbin/nologin ] || fail "$user has shell $shell"
    [ "$(getent group "$gid" | cut -d: -f1)" = "$user" ] || fail "$user's primary group is not $user"
    pass "system user $user (uid $uid, home $home, shell $shell)"
done
for unit in dbs-gateway dbs-control; do
    [ ! -e "/etc/systemd/system/multi-user.target.wants/$unit.service" ] || fail "$unit.service was enabled on install"
    pass "$unit.service not enabled on install"
done

step "package-test: dbs-gateway version and check on the shipped example"
out=$(dbs-gateway version 2>&1) || fail "dbs-gateway version exited $?: $out"
echo "$out"
expect_in "$out" "${VERSION%%-*}" "dbs-gateway version"
set +e
out=$(runuser -u dbs-gateway -- dbs-gateway check --config /etc/dbs-gateway/gateway.toml 2>&1)
rc=$?
set -e
echo "$out"
[ "$rc" -ne 0 ] || fail "dbs-gateway check passed on the not-configured example"
pass "dbs-gateway check exits $rc on the example"
expect_in "$out" "control.access_key_id" "check output"
expect_in "$out" "not configured yet" "check output"
if grep -qi "permission denied" <<<"$out"; then fail "the service user cannot read its config: $out"; fi
pass "the service user reads /etc/dbs-gateway/gateway.toml"

step "package-test: systemd-analyze verify and security on the installed units"
for unit in dbs-gateway dbs-control; do
    systemd-analyze verify "/usr/lib/systemd/system/$unit.service" || fail "systemd-analyze verify $unit.service"
    pass "systemd-analyze verify $unit.service"
    exposure=$(systemd-analyze security --offline=true --no-pager "/usr/lib/systemd/system/$unit.service" |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    [ -n "$exposure" ] || fail "no exposure level for $unit.service"
    echo "$unit.service exposure: $exposure"
    # The units are written to score "OK" (below 2.0 of 10); a lost hardening line shows here.
    awk -v e="$exposure" 'BEGIN { exit !(e < 2.0) }' || fail "$unit.service exposure $exposure is not below 2.0"
    pass "$unit.service exposure $exposure < 2.0"
done

step "package-test: the agent under a notify socket (READY, WATCHDOG, STOPPING)"
NOTIFY_DIR="$WORK/notify"
mkdir -p "$NOTIFY_DIR/control" "$NOTIFY_DIR/state"
cat >"$NOTIFY_DIR/listener.py" <<'PY'
# A stand-in for systemd's notify socket: binds an AF_UNIX datagram socket and
# appends every line received to a file, until STOPPING=1 or the deadline.
import os, socket, sys, time
path, out, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.5)
end = time.monotonic() + limit
with open(out, "a", buffering=1) as f:
    while time.monotonic() < end:
        try:
            data = s.recv(4096).decode()
        except socket.timeout:
            continue
        f.write(data if data.endswith("\n") else data + "\n")
        if "STOPPING=1" in data:
            break
PY
CONTROL_PORT=$(free_port)
dbs-control serve --listen "127.0.0.1:$CONTROL_PORT" --data-dir "$NOTIFY_DIR/control" \
    >"$NOTIFY_DIR/control.log" 2>&1 &
track_pid $!
wait_for_port "$CONTROL_PORT" dbs-control
dbs-control access-key create --role gateway --data-dir "$NOTIFY_DIR/control" >"$NOTIFY_DIR/key.json"
python3 - "$NOTIFY_DIR/key.json" "$NOTIFY_DIR/secret" "$NOTIFY_DIR/key-id" <<'PY'
import json, sys
key = json.load(open(sys.argv[1]))
open(sys.argv[2], "w").write(key["AccessKeySecret"])
open(sys.argv[3], "w").write(key["AccessKeyId"])
PY
chmod 0600 "$NOTIFY_DIR/secret"
cat >"$NOTIFY_DIR/gateway.toml" <<EOF
[gateway]
identifier = "package-test"
state_dir = "$NOTIFY_DIR/state"

[control]
endpoint = "http://127.0.0.1:$CONTROL_PORT"
access_key_id = "$(cat "$NOTIFY_DIR/key-id")"
access_key_secret_file = "$NOTIFY_DIR/secret"
EOF
: >"$NOTIFY_DIR/messages"
python3 "$NOTIFY_DIR/listener.py" "$NOTIFY_DIR/notify.sock" "$NOTIFY_DIR/messages" 120 &
LISTENER=$!
track_pid $LISTENER
for _ in $(seq 1 50); do [ -S "$NOTIFY_DIR/notify.sock" ] && break; sleep 0.1; done
[ -S "$NOTIFY_DIR/notify.sock" ] || fail "the notify listener did not bind $NOTIFY_DIR/notify.sock"
# WATCHDOG_PID must be the agent's own pid, as systemd sets it: the shell
# exports its $$ and execs the agent in its place. A 2 s watchdog means a ping
# every second.
NOTIFY_SOCKET="$NOTIFY_DIR/notify.sock" WATCHDOG_USEC=2000000 \
    sh -c 'WATCHDOG_PID=$$ exec dbs-gateway run --config "$1"' sh "$NOTIFY_DIR/gateway.toml" \
    >"$NOTIFY_DIR/agent.log" 2>&1 &
AGENT=$!
track_pid $AGENT
for _ in $(seq 1 300); do
    grep -qx READY=1 "$NOTIFY_DIR/messages" && grep -qx WATCHDOG=1 "$NOTIFY_DIR/messages" && break
    kill -0 $AGENT 2>/dev/null || break
    sleep 0.2
done
grep -qx READY=1 "$NOTIFY_DIR/messages" ||
    fail "no READY=1 from the agent; got: $(cat "$NOTIFY_DIR/messages"); agent log: $(tail -20 "$NOTIFY_DIR/agent.log")"
pass "READY=1 received"
grep -qx WATCHDOG=1 "$NOTIFY_DIR/messages" ||
    fail "no WATCHDOG=1 from the agent; got: $(cat "$NOTIFY_DIR/messages"); agent log: $(tail -20 "$NOTIFY_DIR/agent.log")"
pass "WATCHDOG=1 received"
kill -TERM $AGENT
set +e
wait $AGENT
rc=$?
set -e
[ "$rc" -eq 0 ] || fail "the agent exited $rc on SIGTERM; log: $(tail -20 "$NOTIFY_DIR/agent.log")"
pass "agent exits 0 on SIGTERM"
wait $LISTENER || true
grep -qx STOPPING=1 "$NOTIFY_DIR/messages" || fail "no STOPPING=1 after SIGTERM; got: $(cat "$NOTIFY_DIR/messages")"
pass "STOPPING=1 received"
echo "notify messages: $(sort "$NOTIFY_DIR/messages" | uniq -c | tr -s ' \n' ' ')"

step "package-test: an edited config survives reinstall and upgrade"
MARK="# edited by package-test $$"
echo "$MARK" >>/etc/dbs-gateway/gateway.toml
dpkg -i "$DEB"
grep -qxF "$MARK" /etc/dbs-gateway/gateway.toml || fail "reinstall lost the edit of gateway.toml"
pass "edit kept on reinstall"
# The upgrade: the same package as revision 2, repacked rather than rebuilt.
dpkg-deb -R "$DEB" "$WORK/rev2"
sed -i "s/^Version: .*/Version: ${VERSION%-*}-2/" "$WORK/rev2/DEBIAN/control"
DEB2="$WORK/dbs-gateway_${VERSION%-*}-2.deb"
dpkg-deb -Zgzip -z1 -b "$WORK/rev2" "$DEB2" >/dev/null
dpkg -i "$DEB2"
[ "$(dpkg-query -W -f '${Version}' dbs-gateway)" = "${VERSION%-*}-2" ] || fail "upgrade to revision 2 did not happen"
pass "upgraded to $(dpkg-query -W -f '${Version}' dbs-gateway)"
grep -qxF "$MARK" /etc/dbs-gateway/gateway.toml || fail "upgrade lost the edit of gateway.toml"
pass "edit kept on upgrade"
expect_stat /etc/dbs-gateway/gateway.toml "root:dbs-gateway 640"

step "package-test: remove, then purge"
echo "secret" >/etc/dbs-gateway/access-key-secret
touch /var/lib/dbs-gateway/identity
dpkg -r dbs-gateway
[ "$(package_status)" = rc ] || fail "status after remove is '$(package_status)', expected rc"
pass "dpkg status rc after remove"
expect_absent /usr/bin/dbs-gateway
expect_absent /usr/lib/systemd/system/dbs-gateway.service
grep -qxF "$MARK" /etc/dbs-gateway/gateway.toml || fail "remove dropped the edited gateway.toml"
pass "remove keeps the edited config"
[ -e /var/lib/dbs-gateway/identity ] || fail "remove dropped /var/lib/dbs-gateway"
pass "remove keeps /var/lib/dbs-gateway"
dpkg --purge dbs-gateway
[ -z "$(package_status)" ] || fail "status after purge is '$(package_status)'"
pass "package gone after purge"
expect_absent /etc/dbs-gateway
expect_absent /var/lib/dbs-gateway
expect_absent /var/lib/dbs-control
getent passwd dbs-gateway >/dev/null || fail "purge removed the dbs-gateway user (it should stay)"
pass "user dbs-gateway stays after purge (Debian practice)"

step "package-test: the .rpm"
files=$(rpm -qlp "$RPM")
echo "$files"
for f in /usr/bin/dbs-gateway /usr/bin/dbs-control /etc/dbs-gateway/gateway.toml \
    /usr/lib/systemd/system/dbs-gateway.service /usr/lib/systemd/system/dbs-control.service \
    /usr/lib/sysusers.d/dbs-gateway.conf; do
    grep -qxF "$f" <<<"$files" || fail "rpm -qlp: $f missing"
done
pass "rpm file list"
attrs=$(rpm -qp --qf '[%{FILENAMES} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEMODES:perms} %{FILEFLAGS:fflags}\n]' "$RPM")
expect_in "$attrs" "/etc/dbs-gateway/gateway.toml root:dbs-gateway -rw-r----- cn" "rpm gateway.toml attributes (config, noreplace)"
expect_in "$attrs" "/usr/bin/dbs-gateway root:root -rwxr-xr-x" "rpm dbs-gateway attributes"
scripts=$(rpm -qp --scripts "$RPM")
echo "$scripts"
expect_in "$scripts" "preinstall scriptlet" "rpm scripts"
expect_in "$scripts" "useradd -r -g" "rpm %pre"
expect_in "$scripts" "install -d -o" "rpm %post"
expect_in "$scripts" "disable --now dbs-gateway.service" "rpm %preun"
expect_in "$scripts" "try-restart dbs-gateway.service" "rpm %postun"

step "package-test: lintian"
set +e
lintian --fail-on error "$DEB" >"$WORK/lintian.txt" 2>&1
rc=$?
set -e
cat "$WORK/lintian.txt"
echo "lintian: $(grep -c '^E:' "$WORK/lintian.txt") errors, $(grep -c '^W:' "$WORK/lintian.txt") warnings"
[ "$rc" -eq 0 ] || fail "lintian reports errors"
pass "lintian: no errors"

echo
echo "package-test: $PASSED passed, 0 failed"

# shellcheck shell=bash
# Native FTP server for bench/remote-targets.sh: Debian's pure-ftpd (C, one
# process per session). The tests' pyftpdlib (scripts/lib/services/ftp.sh)
# is single-threaded Python: it caps every client at its own speed, so a
# benchmark against it measures the server. This one keeps up with the disk,
# so the bench measures the client.
#
# One virtual user in a PureDB file of our own (pure-pw mkdb; no system
# account, PAM or /etc/pure-ftpd config is read), mapped to nobody:nogroup
# (PureDB refuses uid 0) and chrooted to its home under
# $DBS_TESTRUN/ftp-native. The server listens on 127.0.0.1 only, runs in the
# foreground as our child (no -B) and stops with stop_all_services; its pid
# file is under $DBS_TESTRUN, logging to syslog is off. Passive data ports
# are chosen by the kernel on the control connection's address (127.0.0.1).
# On SIGTERM the server only stops accepting: a session still open lives on
# until its client quits (or 15 idle minutes). The one path it writes outside
# $DBS_TESTRUN is its compiled-in session scoreboard, /run/pure-ftpd/ (one
# file per live session; the empty directory stays).
# pure-ftpd's defaults leave uploads, APPE/REST, SIZE, MKD and RNFR/RNTO on,
# and set no bandwidth limit (-T), quota (-n), disk-usage refusal (-k) or
# minimum uid (-u); none of those options is given.
#
# Exports the same variables as start_ftp: DBS_TEST_FTP_HOST/PORT/USER/
# PASSWORD/ROOT (ROOT: the user's home on disk, owned by the FTP uid: a
# directory made there by hand must be chowned to it to be writable over
# FTP, e.g. `chown --reference="$DBS_TEST_FTP_ROOT" DIR`). Needs root (the
# server chroots and changes uid per session).

# Installs pure-ftpd (and openssl, for the password hash) when missing. The
# package's postinst would start a standalone daemon on 0.0.0.0:21 (and its
# inetd dependency another one): when no policy-rc.d exists, a temporary one
# that refuses every start is in place during the install.
ensure_pure_ftpd() {
    command -v pure-ftpd >/dev/null 2>&1 && command -v pure-pw >/dev/null 2>&1 &&
        command -v openssl >/dev/null 2>&1 && return 0
    local policy=/usr/sbin/policy-rc.d guard='' rc=0
    if [ "$(id -u)" -eq 0 ] && [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# temporary: dbs-gateway bench installing pure-ftpd\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        guard=1
    fi
    ensure_debian_packages pure-ftpd:pure-ftpd pure-pw:pure-ftpd openssl:openssl || rc=$?
    [ -z "$guard" ] || rm -f "$policy"
    return "$rc"
}

start_ftp_native() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "start_ftp_native: pure-ftpd must start as root (it chroots and changes uid per session)" >&2
        return 1
    fi
    ensure_pure_ftpd
    local dir="$DBS_TESTRUN/ftp-native" port uid gid password hash
    port=$(free_port)
    uid=$(id -u nobody)
    gid=$(id -g nobody)
    mkdir -p "$dir/home"
    chown "$uid:$gid" "$dir/home"
    export DBS_TEST_FTP_HOST=127.0.0.1
    export DBS_TEST_FTP_PORT=$port
    export DBS_TEST_FTP_USER=dbsftp
    password="ftp-$(random_hex 8)"
    export DBS_TEST_FTP_PASSWORD=$password
    export DBS_TEST_FTP_ROOT="$dir/home"
    # The line pure-pw useradd -d writes ("/./": chrooted there), with a
    # SHA-512 crypt hash instead of pure-pw's argon2, which is tuned to cost
    # ~1 s of CPU per login: a cost the bench would time.
    hash=$(printf '%s\n' "$DBS_TEST_FTP_PASSWORD" | openssl passwd -6 -stdin)
    printf '%s:%s:%s:%s::%s/./:::::::::::::\n' \
        "$DBS_TEST_FTP_USER" "$hash" "$uid" "$gid" "$DBS_TEST_FTP_ROOT" >"$dir/pureftpd.passwd"
    chmod 600 "$dir/pureftpd.passwd"
    pure-pw mkdb "$dir/pureftpd.pdb" -f "$dir/pureftpd.passwd" >/dev/null
    # -f none (first, so nothing reaches syslog before it is parsed): no
    # syslog; -S: listen address; -l: our PureDB only; -E: no anonymous
    # login; -A: chroot everyone; -H: no DNS lookups; -g: pid file here, not
    # /var/run. Startup errors go to server.log.
    pure-ftpd -f none -S "127.0.0.1,$port" -l "puredb:$dir/pureftpd.pdb" -E -A -H \
        -g "$dir/pure-ftpd.pid" >"$dir/server.log" 2>&1 &
    track_pid $!
    wait_for_port "$port" "FTP server (pure-ftpd)"
}

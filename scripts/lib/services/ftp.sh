# FTP test server: pyftpdlib (a maintained FTP server library) in the test
# venv, as an unprivileged process on 127.0.0.1 with one user whose home
# (its virtual root: the user cannot leave it) is under $DBS_TESTRUN/ftp.
# Passive data ports are chosen by the kernel on loopback.
#
# Exports DBS_TEST_FTP_HOST/PORT/USER/PASSWORD/ROOT (ROOT: the user's home on
# disk, so tests can read what arrived) and DBS_TEST_FTP_SERVER, a command
# prefix that starts another server: tests that kill and restart a server run
# their own with `$DBS_TEST_FTP_SERVER -p PORT -d DIR -u USER -P PASSWORD`.

SERVICE_STARTERS+=(start_ftp)

# Installs pyftpdlib into the test venv (idempotent).
ensure_pyftpdlib() {
    local venv=${DBS_TESTRUN:?}/venv
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -c 'import pyftpdlib' 2>/dev/null ||
        "$venv/bin/pip" install -q --disable-pip-version-check 'pyftpdlib>=2,<3'
}

start_ftp() {
    ensure_pyftpdlib
    local dir="$DBS_TESTRUN/ftp" port
    port=$(free_port)
    mkdir -p "$dir/home"
    export DBS_TEST_FTP_SERVER="$DBS_TESTRUN/venv/bin/python -m pyftpdlib -i 127.0.0.1 -w"
    export DBS_TEST_FTP_HOST=127.0.0.1
    export DBS_TEST_FTP_PORT=$port
    export DBS_TEST_FTP_USER=dbsftp
    export DBS_TEST_FTP_PASSWORD="ftp-$(random_hex 8)"
    export DBS_TEST_FTP_ROOT="$dir/home"
    # shellcheck disable=SC2086
    $DBS_TEST_FTP_SERVER -p "$port" -d "$DBS_TEST_FTP_ROOT" \
        -u "$DBS_TEST_FTP_USER" -P "$DBS_TEST_FTP_PASSWORD" >"$dir/server.log" 2>&1 &
    track_pid $!
    wait_for_port "$port" "FTP server (pyftpdlib)"
}

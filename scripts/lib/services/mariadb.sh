# A private MariaDB for the tests, on a free loopback port under
# $DBS_TESTRUN/mariadb. Passwords are real: an admin user with a random
# password is created over the server's Unix socket (the OS user that ran
# mariadb-install-db logs in there by unix_socket authentication).
#
# Exports:
#   DBS_TEST_MYSQL_HOST            127.0.0.1
#   DBS_TEST_MYSQL_PORT            the TCP port
#   DBS_TEST_MYSQL_SOCKET          the Unix socket
#   DBS_TEST_MYSQL_ADMIN_USER      a user with every privilege (WITH GRANT OPTION)
#   DBS_TEST_MYSQL_ADMIN_PASSWORD  its password

TEST_DEBIAN_PACKAGES+=("mariadbd:mariadb-server" "mariadb:mariadb-client")
SERVICE_STARTERS+=(start_mariadb)

start_mariadb() {
    local dir="$DBS_TESTRUN/mariadb" port password os_user pid i
    port=$(free_port)
    password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    os_user=$(id -un)
    mkdir -p "$dir/data"
    mariadb-install-db --no-defaults --user="$os_user" --datadir="$dir/data" \
        --skip-test-db --auth-root-authentication-method=socket \
        >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; return 1; }
    mariadbd --no-defaults --user="$os_user" --datadir="$dir/data" \
        --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
        --port="$port" --bind-address=127.0.0.1 --skip-name-resolve \
        --log-error="$dir/error.log" --innodb-buffer-pool-size=32M \
        --max-connections=200 &
    pid=$!
    track_pid "$pid"
    wait_for_port "$port" "mariadbd" || { cat "$dir/error.log" >&2; return 1; }
    for i in $(seq 1 50); do
        [ -S "$dir/mysqld.sock" ] && break
        sleep 0.1
    done
    mariadb --no-defaults --socket="$dir/mysqld.sock" -u "$os_user" <<SQL
CREATE USER 'dbs_admin'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'dbs_admin'@'127.0.0.1' WITH GRANT OPTION;
SQL
    export DBS_TEST_MYSQL_HOST=127.0.0.1
    export DBS_TEST_MYSQL_PORT=$port
    export DBS_TEST_MYSQL_SOCKET="$dir/mysqld.sock"
    export DBS_TEST_MYSQL_ADMIN_USER=dbs_admin
    export DBS_TEST_MYSQL_ADMIN_PASSWORD=$password
    echo "mariadb on 127.0.0.1:$port (pid $pid)"
}

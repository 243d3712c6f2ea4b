# Private MariaDB servers for the tests, on free loopback ports under
# $DBS_TESTRUN/mariadb-*: "plain" (no TLS) and "tls" (TLS with certificates
# from make_test_certs, and require_secure_transport=ON); the plain one writes
# a binlog, as a server that is backed up does. Passwords are real:
# on each server an admin user with a random password is created over its
# Unix socket (the OS user that ran mariadb-install-db logs in there by
# unix_socket authentication).
#
# Exports:
#   DBS_TEST_MYSQL_HOST            127.0.0.1
#   DBS_TEST_MYSQL_PORT            the plain server's TCP port
#   DBS_TEST_MYSQL_SOCKET          its Unix socket
#   DBS_TEST_MYSQL_ADMIN_USER      a user with every privilege (WITH GRANT OPTION), on both servers
#   DBS_TEST_MYSQL_ADMIN_PASSWORD  its password
#   DBS_TEST_MYSQL_TLS_PORT        the TLS server's TCP port
#   DBS_TEST_MYSQL_TLS_CA_FILE     the CA certificate that signed its certificate

TEST_DEBIAN_PACKAGES+=("mariadbd:mariadb-server" "mariadb:mariadb-client" "mariadb-backup:mariadb-backup")
SERVICE_STARTERS+=(start_mariadb)

# _start_mariadb_instance NAME PORT PASSWORD [mariadbd options...]
_start_mariadb_instance() {
    local name=$1 port=$2 password=$3 dir="$DBS_TESTRUN/mariadb-$1" os_user pid i
    shift 3
    os_user=$(id -un)
    mkdir -p "$dir/data"
    mariadb-install-db --no-defaults --user="$os_user" --datadir="$dir/data" \
        --skip-test-db --auth-root-authentication-method=socket \
        >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; return 1; }
    mariadbd --no-defaults --user="$os_user" --datadir="$dir/data" \
        --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
        --port="$port" --bind-address=127.0.0.1 --skip-name-resolve \
        --log-error="$dir/error.log" --innodb-buffer-pool-size=32M \
        --max-connections=200 "$@" &
    pid=$!
    track_pid "$pid"
    wait_for_port "$port" "mariadbd ($name)" || { cat "$dir/error.log" >&2; return 1; }
    for i in $(seq 1 50); do
        [ -S "$dir/mysqld.sock" ] && break
        sleep 0.1
    done
    mariadb --no-defaults --socket="$dir/mysqld.sock" -u "$os_user" <<SQL || return 1
CREATE USER 'dbs_admin'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'dbs_admin'@'127.0.0.1' WITH GRANT OPTION;
SQL
    echo "mariadb ($name) on 127.0.0.1:$port (pid $pid)"
}

start_mariadb() {
    local port tls_port password certs="$DBS_TESTRUN/tls-certs"
    port=$(free_port)
    tls_port=$(free_port)
    password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    make_test_certs "$certs" || return 1
    _start_mariadb_instance plain "$port" "$password" --log-bin=mysql-bin --server-id=1 || return 1
    _start_mariadb_instance tls "$tls_port" "$password" \
        --ssl-cert="$certs/server.crt" --ssl-key="$certs/server.key" \
        --ssl-ca="$certs/ca.crt" --require-secure-transport=ON || return 1
    export DBS_TEST_MYSQL_HOST=127.0.0.1
    export DBS_TEST_MYSQL_PORT=$port
    export DBS_TEST_MYSQL_SOCKET="$DBS_TESTRUN/mariadb-plain/mysqld.sock"
    export DBS_TEST_MYSQL_ADMIN_USER=dbs_admin
    export DBS_TEST_MYSQL_ADMIN_PASSWORD=$password
    export DBS_TEST_MYSQL_TLS_PORT=$tls_port
    export DBS_TEST_MYSQL_TLS_CA_FILE=$certs/ca.crt
}

# Private Redis servers for the tests, on free loopback ports under
# $DBS_TESTRUN/redis-*:
#   auth      requirepass for the default user, plus an ACL user
#   open      no authentication
#   tls       TLS only (certificates from make_test_certs, tls_certs.sh)
#   cluster   cluster-enabled yes (a single node, no slots)
#   sentinel  redis-server --sentinel
#
# Exports:
#   DBS_TEST_REDIS_HOST              127.0.0.1
#   DBS_TEST_REDIS_PORT              the auth server
#   DBS_TEST_REDIS_PASSWORD          its default user's password (requirepass)
#   DBS_TEST_REDIS_ACL_USER          its ACL user
#   DBS_TEST_REDIS_ACL_PASSWORD      that user's password
#   DBS_TEST_REDIS_OPEN_PORT         the server without authentication
#   DBS_TEST_REDIS_TLS_PORT          the TLS-only server (no authentication)
#   DBS_TEST_REDIS_TLS_CA_FILE       the CA certificate that signed its certificate
#   DBS_TEST_REDIS_CLUSTER_PORT      the cluster node
#   DBS_TEST_REDIS_SENTINEL_PORT     the sentinel

TEST_DEBIAN_PACKAGES+=("redis-server:redis-server")
SERVICE_STARTERS+=(start_redis)

# Starts redis-server with a config file written from stdin; $1 names it,
# $2 is the port to wait for, further arguments go to redis-server.
_start_redis_instance() {
    local name=$1 port=$2 dir="$DBS_TESTRUN/redis-$1" pid
    shift 2
    mkdir -p "$dir"
    {
        echo "bind 127.0.0.1"
        echo "dir $dir"
        echo "daemonize no"
        echo "save \"\""
        echo "appendonly no"
        echo "logfile $dir/redis.log"
        cat
    } >"$dir/redis.conf"
    redis-server "$dir/redis.conf" "$@" &
    pid=$!
    track_pid "$pid"
    wait_for_port "$port" "redis-server ($name)" || { cat "$dir/redis.log" >&2; return 1; }
}

start_redis() {
    local auth_port open_port tls_port cluster_port sentinel_port password acl_password certs
    auth_port=$(free_port)
    open_port=$(free_port)
    tls_port=$(free_port)
    cluster_port=$(free_port)
    sentinel_port=$(free_port)
    password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    acl_password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    certs="$DBS_TESTRUN/tls-certs"
    make_test_certs "$certs" || return 1

    _start_redis_instance auth "$auth_port" <<CONF || return 1
port $auth_port
requirepass $password
user dbs_lister on >$acl_password ~* &* +@all
CONF
    _start_redis_instance open "$open_port" <<CONF || return 1
port $open_port
CONF
    _start_redis_instance tls "$tls_port" <<CONF || return 1
port 0
tls-port $tls_port
tls-cert-file $certs/server.crt
tls-key-file $certs/server.key
tls-ca-cert-file $certs/ca.crt
tls-auth-clients no
CONF
    _start_redis_instance cluster "$cluster_port" <<CONF || return 1
port $cluster_port
cluster-enabled yes
cluster-port $(free_port)
cluster-config-file $DBS_TESTRUN/redis-cluster/nodes.conf
CONF
    _start_redis_instance sentinel "$sentinel_port" --sentinel <<CONF || return 1
port $sentinel_port
CONF

    export DBS_TEST_REDIS_HOST=127.0.0.1
    export DBS_TEST_REDIS_PORT=$auth_port
    export DBS_TEST_REDIS_PASSWORD=$password
    export DBS_TEST_REDIS_ACL_USER=dbs_lister
    export DBS_TEST_REDIS_ACL_PASSWORD=$acl_password
    export DBS_TEST_REDIS_OPEN_PORT=$open_port
    export DBS_TEST_REDIS_TLS_PORT=$tls_port
    export DBS_TEST_REDIS_TLS_CA_FILE=$certs/ca.crt
    export DBS_TEST_REDIS_CLUSTER_PORT=$cluster_port
    export DBS_TEST_REDIS_SENTINEL_PORT=$sentinel_port
    echo "redis on 127.0.0.1: auth $auth_port, open $open_port, tls $tls_port, cluster $cluster_port, sentinel $sentinel_port"
}

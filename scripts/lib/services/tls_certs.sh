# make_test_certs DIR: a throw-away CA (DIR/ca.crt) and a server certificate
# for localhost and 127.0.0.1 signed by it (DIR/server.crt, DIR/server.key),
# for the TLS test servers. Registers no service.

TEST_DEBIAN_PACKAGES+=("openssl:openssl")

make_test_certs() {
    local dir=$1
    [ -f "$dir/server.crt" ] && return 0
    mkdir -p "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=dbs-test-ca" \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$dir/ext.cnf"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/ext.cnf" -out "$dir/server.crt" 2>/dev/null
    chmod 644 "$dir/server.key"
}

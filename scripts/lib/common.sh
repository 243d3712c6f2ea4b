# Shared helpers for scripts/test.sh, scripts/quickstart.sh and bench/.
# Services register themselves by appending to TEST_DEBIAN_PACKAGES and
# SERVICE_STARTERS, and record their pids with `track_pid` so they stop with us.

TEST_DEBIAN_PACKAGES=()
SERVICE_STARTERS=()
TRACKED_PIDS=()

step() { printf '\n==> %s\n' "$*"; }

# N random bytes as 2N hex digits (passwords, keys and secrets of test servers).
random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# Installs the Debian packages whose commands are missing (as root), or says
# what to install. Arguments are "command:package" pairs.
ensure_debian_packages() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "${pair%%:*}" ] || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
        return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Creates a venv with the official SDKs and pytest, once.
ensure_python_venv() {
    local venv=$1
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check \
        alibabacloud-dbs20190306 aliyun-python-sdk-dbs pytest
}

# A free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until a TCP port on 127.0.0.1 accepts connections.
wait_for_port() {
    local port=$1 what=$2 i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    echo "$what did not open port $port" >&2
    return 1
}

track_pid() { TRACKED_PIDS+=("$1"); }

stop_all_services() {
    local pid
    for pid in "${TRACKED_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${TRACKED_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}

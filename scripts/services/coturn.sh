#!/usr/bin/env bash
# coturn as the real TURN server for tests: loopback only, TURN REST credentials
# (use-auth-secret) with a secret made here, UDP and TCP on one free port, relays on 127.0.0.1.
# Usage: coturn.sh start|stop|status
#
# State lives in .cache/ci/coturn/ (config, pid, log); `start` writes the test environment to
# .cache/ci/coturn.env (V100_TEST_TURN_URL, V100_TEST_TURN_SECRET; source it, then run pytest).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="$ROOT/.cache/ci/coturn"
ENV_FILE="$ROOT/.cache/ci/coturn.env"
CONF="$STATE/turnserver.conf"
PID_FILE="$STATE/turnserver.pid"
LOG_FILE="$STATE/turnserver.log"
PORT_FILE="$STATE/port"

HOST=127.0.0.1
REALM=v100.test
RELAY_PORTS=200 # relayed addresses at most at once: plenty for a test's few peers

ensure_installed() {
    command -v turnserver >/dev/null && return
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends coturn >/dev/null; then
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends coturn >/dev/null
    fi
    # The Debian package may start its own system server on 3478; we want only ours.
    service coturn stop >/dev/null 2>&1 || true
}

# A port free for both UDP and TCP on loopback (TURN listens on both), and the first of
# RELAY_PORTS ports that are free for UDP now (a relay range; later takers are unlikely).
free_ports() {
    python3 - "$RELAY_PORTS" <<'EOF'
import random
import socket
import sys

span = int(sys.argv[1])


def free(port: int, kinds: tuple[int, ...]) -> bool:
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


while True:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    if free(port, (socket.SOCK_DGRAM,)):
        break
while True:
    low = random.randrange(20000, 32000 - span)
    if all(free(p, (socket.SOCK_DGRAM,)) for p in range(low, low + span)) and not (
        low <= port < low + span
    ):
        break
print(port, low, low + span - 1)
EOF
}

running() {
    [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

listening() {
    local port="$1"
    ss -lnu "sport = :$port" 2>/dev/null | grep -q ":$port" &&
        ss -lnt "sport = :$port" 2>/dev/null | grep -q ":$port"
}

start() {
    ensure_installed
    mkdir -p "$STATE"
    if running && [[ -f "$ENV_FILE" ]]; then
        echo "coturn already running (env: $ENV_FILE)"
        return
    fi
    local port min max secret
    read -r port min max < <(free_ports)
    secret="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
    cat >"$CONF" <<EOF
listening-ip=$HOST
relay-ip=$HOST
listening-port=$port
min-port=$min
max-port=$max
realm=$REALM
use-auth-secret
static-auth-secret=$secret
fingerprint
# Tests relay between peers on loopback: allowed here alone.
allow-loopback-peers
no-tls
no-dtls
no-cli
no-multicast-peers
no-software-attribute
userdb=$STATE/turndb
pidfile=$PID_FILE
log-file=$LOG_FILE
simple-log
no-stdout-log
EOF
    rm -f "$PID_FILE" "$LOG_FILE"
    # -o: as a daemon; the pid is written to the pidfile.
    turnserver -c "$CONF" -o >/dev/null 2>&1
    for _ in $(seq 1 100); do
        running && listening "$port" && break
        sleep 0.1
    done
    if ! (running && listening "$port"); then
        echo "coturn did not listen on $HOST:$port; see $LOG_FILE" >&2
        exit 1
    fi
    echo "$port" >"$PORT_FILE"
    {
        echo "export V100_TEST_TURN_URL='turn:$HOST:$port?transport=udp'"
        echo "export V100_TEST_TURN_SECRET=$secret"
    } >"$ENV_FILE"
    echo "coturn ready on $HOST:$port, relays $min-$max (env: $ENV_FILE)"
}

stop() {
    if running; then
        kill "$(cat "$PID_FILE")" 2>/dev/null || true
        for _ in $(seq 1 50); do
            running || break
            sleep 0.1
        done
        if running; then
            kill -9 "$(cat "$PID_FILE")" 2>/dev/null || true
        fi
    fi
    rm -f "$PID_FILE" "$ENV_FILE" "$PORT_FILE"
    echo "coturn stopped"
}

status() {
    if running && [[ -f "$PORT_FILE" ]] && listening "$(cat "$PORT_FILE")"; then
        echo "coturn running on $HOST:$(cat "$PORT_FILE")"
    else
        echo "coturn not running"
        return 1
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac

#!/usr/bin/env bash
# Janus (Debian's `janus`, VideoRoom plugin) as the real SFU for tests: only the VideoRoom
# plugin and the plain HTTP transport, bound to 127.0.0.1 on a port free at start, ICE on the
# host's own address only (see host_address), a fixed RTP port range, an API secret (every
# request carries it; the VideoRoom plugin's admin_key is the same: only our services make rooms).
# Usage: janus.sh start|stop|status
#
# State lives in .cache/ci/janus/ (generated config, pid, log); `start` writes the test
# environment to .cache/ci/janus.env (source it, then run pytest).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="$ROOT/.cache/ci/janus"
CONF="$STATE/etc"
ENV_FILE="$ROOT/.cache/ci/janus.env"
PID_FILE="$STATE/janus.pid"
LOG_FILE="$STATE/janus.log"
PORT_FILE="$STATE/port"
SECRET_FILE="$STATE/secret"

HOST=127.0.0.1
LIBDIR=/usr/lib/x86_64-linux-gnu/janus
# Janus's RTP/RTCP (and ICE) sockets; a range of its own so it does not meet other servers.
RTP_RANGE="${V100_JANUS_RTP_RANGE:-42000-43999}"

ensure_installed() {
    command -v janus >/dev/null && return
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends janus >/dev/null; then
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends janus >/dev/null
    fi
    # The Debian package may start its own system server on every interface; we want only ours.
    service janus stop >/dev/null 2>&1 || true
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

answers() {
    [[ -f "$PORT_FILE" ]] || return 1
    curl -fsS --max-time 2 "http://$HOST:$(cat "$PORT_FILE")/janus/info" 2>/dev/null | grep -q '"janus":"server_info"'
}

running() {
    [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

others() {
    # Every plugin, transport, event handler and logger but the two we use.
    local dir="$1" keep="$2"
    find "$LIBDIR/$dir" -maxdepth 1 -name 'libjanus_*.so' -printf '%f\n' | grep -vx "$keep" | paste -sd, - || true
}

host_address() {
    # Janus (ice.c) skips loopback interfaces when it gathers candidates, so its ICE runs on this
    # host's own address: packets between two addresses of one host are delivered by the kernel
    # through lo and never leave the host (ADR 0058).
    ip -4 route get 192.0.2.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n1
}

host_ice_address() {
    echo "${V100_JANUS_ICE_ADDRESS:-$(host_address)}"
}

write_config() {
    local port="$1" secret="$2" address
    address="$(host_ice_address)"
    if [[ -z "$address" ]]; then
        echo "janus: no host address to gather ICE candidates on" >&2
        exit 1
    fi
    mkdir -p "$CONF"
    cat >"$CONF/janus.jcfg" <<JCFG
general: {
    configs_folder = "$CONF"
    plugins_folder = "$LIBDIR/plugins"
    transports_folder = "$LIBDIR/transports"
    events_folder = "$LIBDIR/events"
    loggers_folder = "$LIBDIR/loggers"
    debug_level = 4
    api_secret = "$secret"
    admin_secret = "$secret"
    session_timeout = 60
    server_name = "v100-test-janus"
}
media: {
    rtp_port_range = "$RTP_RANGE"
    ipv6 = false
}
nat: {
    nice_debug = false
    ice_enforce_list = "$address"
    ignore_mdns = true
}
plugins: {
    disable = "$(others plugins libjanus_videoroom.so)"
}
transports: {
    disable = "$(others transports libjanus_http.so)"
}
events: {
    broadcast = false
    disable = "$(others events none)"
}
loggers: {
    disable = "$(others loggers none)"
}
JCFG
    cat >"$CONF/janus.transport.http.jcfg" <<JCFG
general: {
    json = "compact"
    base_path = "/janus"
    http = true
    port = $port
    ip = "$HOST"
    https = false
}
admin: {
    admin_http = false
}
JCFG
    cat >"$CONF/janus.plugin.videoroom.jcfg" <<JCFG
general: {
    admin_key = "$secret"
    lock_rtp_forward = true
}
JCFG
}

start() {
    ensure_installed
    mkdir -p "$STATE"
    if ! answers; then
        if running; then kill "$(cat "$PID_FILE")" 2>/dev/null || true; sleep 0.5; fi
        local port secret
        port="$(free_port)"
        secret="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
        write_config "$port" "$secret"
        echo "$port" >"$PORT_FILE"
        echo "$secret" >"$SECRET_FILE"
        host_ice_address >"$STATE/ice-address"
        chmod 600 "$SECRET_FILE"
        janus -F "$CONF" -C "$CONF/janus.jcfg" -N -b -p "$PID_FILE" -L "$LOG_FILE" >/dev/null 2>&1
        for _ in $(seq 1 150); do
            answers && break
            sleep 0.1
        done
        if ! answers; then
            echo "janus did not answer on $HOST:$port; see $LOG_FILE" >&2
            exit 1
        fi
    fi
    {
        echo "export V100_TEST_JANUS_URL=http://$HOST:$(cat "$PORT_FILE")/janus"
        echo "export V100_TEST_JANUS_SECRET=$(cat "$SECRET_FILE")"
        # Test peers gather their candidates on it too (libnice does not pair 127.0.0.1 with it).
        echo "export V100_TEST_JANUS_ICE_ADDRESS=$(cat "$STATE/ice-address")"
    } >"$ENV_FILE"
    echo "janus ready on $HOST:$(cat "$PORT_FILE") (env: $ENV_FILE)"
}

stop() {
    if running; then
        kill "$(cat "$PID_FILE")" 2>/dev/null || true
        for _ in $(seq 1 50); do
            running || break
            sleep 0.1
        done
        if running; then kill -9 "$(cat "$PID_FILE")" 2>/dev/null || true; fi
    fi
    rm -f "$PID_FILE" "$ENV_FILE" "$PORT_FILE"
    echo "janus stopped"
}

status() {
    if answers; then
        echo "janus running on $HOST:$(cat "$PORT_FILE")"
    else
        echo "janus not running"
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

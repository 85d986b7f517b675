#!/usr/bin/env bash
# Redis as the real bus, cache and queue server for tests: loopback only, no persistence.
# Usage: redis.sh start|stop|status
#
# State lives in .cache/ci/redis/ (dir, pid, log); `start` writes the test environment to
# .cache/ci/redis.env (source it, then run pytest).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="$ROOT/.cache/ci/redis"
ENV_FILE="$ROOT/.cache/ci/redis.env"
PID_FILE="$STATE/redis.pid"
LOG_FILE="$STATE/redis.log"

HOST=127.0.0.1
PORT=$((56379 + ${V100_CI_PORT_OFFSET:-0}))

ensure_installed() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y redis-server >/dev/null; then
        apt-get update >/dev/null
        apt-get install -y redis-server >/dev/null
    fi
    # The Debian package may start its own system server on 6379; we want only ours.
    service redis-server stop >/dev/null 2>&1 || true
}

answers() {
    [[ "$(redis-cli -h "$HOST" -p "$PORT" ping 2>/dev/null)" == "PONG" ]]
}

running() {
    [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

start() {
    ensure_installed
    mkdir -p "$STATE"
    if ! answers; then
        redis-server \
            --port "$PORT" --bind "$HOST" \
            --save "" --appendonly no \
            --daemonize yes \
            --dir "$STATE" --pidfile "$PID_FILE" --logfile "$LOG_FILE"
        for _ in $(seq 1 100); do
            answers && break
            sleep 0.1
        done
        if ! answers; then
            echo "redis did not answer on $HOST:$PORT; see $LOG_FILE" >&2
            exit 1
        fi
    fi
    echo "export V100_TEST_REDIS_URL=redis://$HOST:$PORT/0" >"$ENV_FILE"
    echo "redis ready on $HOST:$PORT (env: $ENV_FILE)"
}

stop() {
    if answers; then
        redis-cli -h "$HOST" -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    fi
    # SHUTDOWN returns before the process has gone; wait so a following `start` gets the port.
    for _ in $(seq 1 50); do
        running || break
        sleep 0.1
    done
    if running; then
        kill "$(cat "$PID_FILE")" 2>/dev/null || true
    fi
    rm -f "$PID_FILE" "$ENV_FILE"
    echo "redis stopped"
}

status() {
    if answers; then
        echo "redis running on $HOST:$PORT"
    else
        echo "redis not running"
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

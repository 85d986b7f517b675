#!/usr/bin/env bash
# SeaweedFS (`weed mini`) as the real S3 server for tests: loopback only, no telemetry,
# signatures checked against a generated access key. Usage: seaweedfs.sh start|stop|status
#
# State lives in .cache/ci/seaweedfs/ (data, config, log, pid); `start` writes the test
# environment to .cache/ci/seaweedfs.env (source it, then run pytest).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="$ROOT/.cache/ci/seaweedfs"
ENV_FILE="$ROOT/.cache/ci/seaweedfs.env"
PID_FILE="$STATE/weed.pid"
LOG_FILE="$STATE/weed.log"
S3_CONFIG="$STATE/s3.json"
WEED="$ROOT/.venv/bin/weed"
PYTHON="$ROOT/.venv/bin/python"

HOST=127.0.0.1
OFF=${V100_CI_PORT_OFFSET:-0}
S3_PORT=$((58333 + OFF))
BUCKET=v100-test
ACCESS_KEY=v100test

running() {
    [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

s3_answers() {
    # Any HTTP status (403 for an unsigned request) means the S3 gateway is serving.
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$HOST:$S3_PORT/" || true)"
    [[ "$code" != "000" && -n "$code" ]]
}

write_s3_config() {
    # One identity with full rights; the secret is generated once and kept, so restarts and
    # already-exported environments keep working.
    [[ -f "$S3_CONFIG" ]] && return
    local secret
    secret="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    umask 077
    cat >"$S3_CONFIG" <<EOF
{
  "identities": [
    {
      "name": "v100-test",
      "credentials": [{"accessKey": "$ACCESS_KEY", "secretKey": "$secret"}],
      "actions": ["Admin", "Read", "Write", "List", "Tagging"]
    }
  ]
}
EOF
}

secret_key() {
    "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["identities"][0]["credentials"][0]["secretKey"])' "$S3_CONFIG"
}

ensure_bucket() {
    # A signed request: proves the credentials are checked and accepted, and creates the
    # bucket when `-bucket` did not (idempotent).
    V100_S3_SECRET="$(secret_key)" "$PYTHON" - "$HOST" "$S3_PORT" "$ACCESS_KEY" "$BUCKET" <<'EOF'
import os, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

host, port, access_key, bucket = sys.argv[1:5]
s3 = boto3.client(
    "s3",
    endpoint_url=f"http://{host}:{port}",
    region_name="us-east-1",
    aws_access_key_id=access_key,
    aws_secret_access_key=os.environ["V100_S3_SECRET"],
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
)
try:
    s3.head_bucket(Bucket=bucket)
except ClientError:
    s3.create_bucket(Bucket=bucket)
s3.head_bucket(Bucket=bucket)
EOF
}

write_env() {
    cat >"$ENV_FILE" <<EOF
export V100_TEST_S3_ENDPOINT=http://$HOST:$S3_PORT
export V100_TEST_S3_ACCESS_KEY_ID=$ACCESS_KEY
export V100_TEST_S3_SECRET_ACCESS_KEY=$(secret_key)
export V100_TEST_S3_BUCKET=$BUCKET
EOF
}

start() {
    mkdir -p "$STATE/data"
    if [[ ! -x "$WEED" ]]; then
        (cd "$ROOT" && uv sync --quiet)
    fi
    write_s3_config
    if running && s3_answers; then
        ensure_bucket
        write_env
        echo "seaweedfs already running (pid $(cat "$PID_FILE")), S3 on http://$HOST:$S3_PORT"
        return
    fi
    if s3_answers; then
        echo "port $S3_PORT is taken by a process this script did not start" >&2
        exit 1
    fi
    # -ip/-ip.bind: the defaults bind 0.0.0.0. Every port is explicit (gRPC ports default to
    # http+10000, which lands outside 1..65535 for our 58xxx http ports). The admin server's
    # built-in worker always dials admin http port + 10000, ignoring -admin.port.grpc, hence
    # its http port sits in 49xxx. Iceberg, Lance and WebDAV are not needed.
    setsid "$WEED" mini \
        -dir="$STATE/data" \
        -ip="$HOST" -ip.bind="$HOST" \
        -master.telemetry=false \
        -master.port=$((58900 + OFF)) -master.port.grpc=$((59900 + OFF)) \
        -volume.port=$((58940 + OFF)) -volume.port.grpc=$((59940 + OFF)) \
        -filer.port=$((58888 + OFF)) -filer.port.grpc=$((59888 + OFF)) \
        -filer.localSocket="$STATE/filer.sock" \
        -s3.port="$S3_PORT" -s3.port.grpc=$((59333 + OFF)) \
        -s3.localSocket="$STATE/s3.sock" \
        -s3.port.iceberg=0 -s3.port.lance=0 \
        -s3.config="$S3_CONFIG" \
        -admin.ui=false -admin.port=$((49646 + OFF)) -admin.port.grpc=$((59646 + OFF)) \
        -webdav=false \
        -bucket="$BUCKET" \
        >"$LOG_FILE" 2>&1 </dev/null &
    echo $! >"$PID_FILE"
    for _ in $(seq 1 150); do
        if ! running; then
            echo "weed exited during start; last log lines:" >&2
            tail -n 30 "$LOG_FILE" >&2
            rm -f "$PID_FILE"
            exit 1
        fi
        if s3_answers; then
            break
        fi
        sleep 0.2
    done
    if ! s3_answers; then
        echo "S3 did not answer on $HOST:$S3_PORT within 30 s; see $LOG_FILE" >&2
        exit 1
    fi
    # The gateway answers before the filer has registered the startup bucket; retry briefly.
    for _ in $(seq 1 50); do
        if ensure_bucket 2>/dev/null; then
            break
        fi
        sleep 0.2
    done
    ensure_bucket
    write_env
    echo "seaweedfs started (pid $(cat "$PID_FILE")), S3 on http://$HOST:$S3_PORT; env in $ENV_FILE"
}

stop() {
    if ! running; then
        rm -f "$PID_FILE"
        echo "seaweedfs not running"
        return
    fi
    local pid
    pid="$(cat "$PID_FILE")"
    kill "$pid"
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid"
    fi
    rm -f "$PID_FILE"
    echo "seaweedfs stopped"
}

status() {
    if running && s3_answers; then
        echo "seaweedfs running (pid $(cat "$PID_FILE")), S3 on http://$HOST:$S3_PORT"
    else
        echo "seaweedfs not running"
        return 1
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

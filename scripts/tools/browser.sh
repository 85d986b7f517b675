#!/usr/bin/env bash
# Browser test tools: Debian's chromium (driven by Playwright for Python with
# executable_path=/usr/bin/chromium, never `playwright install`) and the browser libraries of
# scripts/tools/package.json (tus-js-client, hls.js) installed from npm under .cache/tools/node.
# Usage: browser.sh install|status
#
# `install` is idempotent and writes .cache/ci/browser.env (source it, then run pytest): it
# exports V100_TEST_CHROMIUM and V100_TEST_NODE_MODULES, which the browser tests read.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="$ROOT/.cache/tools/node"
ENV_FILE="$ROOT/.cache/ci/browser.env"
CHROMIUM=/usr/bin/chromium

install_chromium() {
    [[ -x "$CHROMIUM" ]] && return
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends chromium >/dev/null; then
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends chromium >/dev/null
    fi
}

install_node_modules() {
    mkdir -p "$TOOLS"
    # Reinstall only when the wanted versions changed.
    if ! cmp -s "$ROOT/scripts/tools/package.json" "$TOOLS/package.json" \
        || [[ ! -f "$TOOLS/node_modules/tus-js-client/dist/tus.min.js" ]] \
        || [[ ! -f "$TOOLS/node_modules/hls.js/dist/hls.min.js" ]]; then
        cp "$ROOT/scripts/tools/package.json" "$TOOLS/package.json"
        (cd "$TOOLS" && npm install --no-audit --no-fund --silent --omit=dev >/dev/null)
    fi
}

install() {
    install_chromium
    install_node_modules
    mkdir -p "$(dirname "$ENV_FILE")"
    {
        echo "export V100_TEST_CHROMIUM=$CHROMIUM"
        echo "export V100_TEST_NODE_MODULES=$TOOLS/node_modules"
    } >"$ENV_FILE"
    echo "browser tools ready: $("$CHROMIUM" --version 2>/dev/null || echo chromium), tus-js-client $(node -p "require('$TOOLS/node_modules/tus-js-client/package.json').version"), hls.js $(node -p "require('$TOOLS/node_modules/hls.js/package.json').version") (env: $ENV_FILE)"
}

status() {
    [[ -x "$CHROMIUM" ]] && echo "chromium: $CHROMIUM" || echo "chromium: missing"
    [[ -f "$TOOLS/node_modules/tus-js-client/dist/tus.min.js" ]] \
        && echo "tus-js-client: $TOOLS/node_modules/tus-js-client" || echo "tus-js-client: missing"
    [[ -f "$TOOLS/node_modules/hls.js/dist/hls.min.js" ]] \
        && echo "hls.js: $TOOLS/node_modules/hls.js" || echo "hls.js: missing"
}

case "${1:-}" in
    install) install ;;
    status) status ;;
    *) echo "usage: $0 install|status" >&2; exit 2 ;;
esac

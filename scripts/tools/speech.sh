#!/usr/bin/env bash
# Test speech tools: Debian's espeak-ng, which the speech tests use to say known texts at run time
# (v100.ai.testing.make_speech; no recorded speech is committed). Without it those tests skip, so
# the suite installs it here rather than relying on what a machine happens to have.
# Usage: speech.sh install|status
set -euo pipefail

install() {
    if ! command -v espeak-ng >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y --no-install-recommends espeak-ng >/dev/null; then
            apt-get update >/dev/null
            apt-get install -y --no-install-recommends espeak-ng >/dev/null
        fi
    fi
    echo "speech tools ready: $(espeak-ng --version 2>/dev/null | head -1)"
}

status() {
    command -v espeak-ng >/dev/null 2>&1 && echo "espeak-ng: $(command -v espeak-ng)" || echo "espeak-ng: missing"
}

case "${1:-}" in
    install) install ;;
    status) status ;;
    *) echo "usage: $0 install|status" >&2; exit 2 ;;
esac

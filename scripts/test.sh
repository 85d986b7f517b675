#!/usr/bin/env bash
# The whole suite: static checks, then pytest with the real PostgreSQL (pgvector), Redis,
# SeaweedFS S3, Janus and coturn (TURN) servers started on 127.0.0.1 by scripts/services/*, and
# stopped afterwards, and headless chromium for the browser tests (scripts/tools/browser.sh),
# espeak-ng for the speech tests (scripts/tools/speech.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

SERVERS=(postgres redis seaweedfs janus coturn)
stop_all() {
  for name in "${SERVERS[@]}"; do bash "scripts/services/$name.sh" stop >/dev/null 2>&1 || true; done
}
trap stop_all EXIT

bash scripts/lint.sh

for name in "${SERVERS[@]}"; do
  bash "scripts/services/$name.sh" start
  # shellcheck disable=SC1090
  source ".cache/ci/$name.env"
done
export V100_TEST_POSTGRES_URL V100_TEST_REDIS_URL V100_TEST_S3_ENDPOINT \
  V100_TEST_S3_ACCESS_KEY_ID V100_TEST_S3_SECRET_ACCESS_KEY V100_TEST_S3_BUCKET \
  V100_TEST_JANUS_URL V100_TEST_JANUS_SECRET V100_TEST_JANUS_ICE_ADDRESS \
  V100_TEST_TURN_URL V100_TEST_TURN_SECRET

# Browser tests: Debian's chromium and tus-js-client from npm (not servers: nothing to stop).
bash scripts/tools/browser.sh install
# shellcheck disable=SC1091
source .cache/ci/browser.env
# Speech tests: Debian's espeak-ng says their known texts (scripts/tools/speech.sh).
bash scripts/tools/speech.sh install

# Two workers, each taking whole test files (tests isolate themselves: a database, a Redis
# prefix or a Redis of their own, an S3 prefix of their own, free ports; test_up.py's fixed
# ports stay in one file); files with slow tests are handed out first (tests/conftest.py).
# `-n 0` after the script's name runs them serially. The slowest tests are listed at the end:
# where the time goes, and the figures, are in docs/testing.md ("How long the suite takes").
.venv/bin/pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=25 "$@"

# A run with arguments is a developer's subset: the extra passes below are for the whole suite.
[ "$#" -eq 0 ] || exit 0

# Once more, the files that reason about dates, periods, expiries and schedules (marked
# time_sensitive), with this process's clock moved 45 days ahead (v100.kit.testing.clock): a test
# that assumed today's date fails here, not on the day it breaks. S3 is left out: its request
# signatures carry the time, and the server keeps the real one.
echo "time-sensitive tests, clock moved 45 days ahead:"
env -u V100_TEST_S3_ENDPOINT V100_TEST_CLOCK_SHIFT_DAYS=45 \
  .venv/bin/pytest -q -p no:cacheprovider -n 2 --dist loadfile -m time_sensitive

# --- Media tests on Debian's FFmpeg (V100_FFMPEG) -------------------------------------------
# The platform runs the bundled FFmpeg unless V100_FFMPEG names another; most servers have
# Debian 12's FFmpeg 5.1. Run the media tests once more with that one named: fixtures, the
# operations and the three FFmpeg services' start-up check all use it, and the tests assert
# what is right for it (5.1 is accepted: docs/media.md, ADR 0025). 55-90 s on 2 shared cores
# (measured), plus about 20 s the first time to install the package.
if ! [[ -x /usr/bin/ffmpeg ]]; then
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends ffmpeg >/dev/null; then
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends ffmpeg >/dev/null
  fi
fi
echo "media tests on Debian's FFmpeg (V100_FFMPEG=/usr/bin/ffmpeg):"
V100_FFMPEG=/usr/bin/ffmpeg .venv/bin/pytest -q -p no:cacheprovider -n 2 --dist loadfile tests/media

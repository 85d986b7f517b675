#!/usr/bin/env bash
# Static checks: ruff, mypy (strict on the shared layers), and the import contracts that keep
# services independent of each other.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check src tests bench
.venv/bin/mypy src/v100
.venv/bin/lint-imports

#!/usr/bin/env bash
# Installs what the platform needs on a fresh machine: uv (into .tools/ when not on PATH) and the
# locked Python environment in .venv. Debian packages for tests come from scripts/services/*.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v uv >/dev/null 2>&1; then
  UV=uv
else
  if [ ! -x .tools/bin/uv ]; then
    python3 -m venv .tools
    .tools/bin/pip install --quiet uv
  fi
  UV=.tools/bin/uv
fi
# Bytecode is compiled up front: this environment may set PYTHONDONTWRITEBYTECODE, and without
# .pyc files every start compiles SQLAlchemy, FastAPI and the rest from source (3x slower).
# The diarization extra (resemblyzer on PyTorch's CPU build) is installed where that build lies on
# disk (pyproject.toml, tool.uv.sources); elsewhere local diarization is off (docs/ai.md).
extras=()
if [ -f /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl ]; then
  extras+=(--extra diarization)
fi
"$UV" sync --frozen --quiet --compile-bytecode "${extras[@]}"
.venv/bin/python -m compileall -q -j 0 src >/dev/null

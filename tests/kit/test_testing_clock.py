"""The suite's clock seam (``v100.kit.testing.clock``): in a shifted run, Python's wall clock
really is moved, or the time-sensitive files would pass without proving anything."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from v100.kit.testing.clock import shifted_days

pytestmark = pytest.mark.time_sensitive


def test_the_wall_clock_is_moved_by_the_configured_days(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    probe.touch()
    # A file's modification time comes from the kernel's clock, which time-machine leaves alone.
    kernel_now = datetime.fromtimestamp(os.stat(probe).st_mtime, UTC)
    moved = datetime.now(UTC) - kernel_now
    assert abs(moved - timedelta(days=shifted_days())) < timedelta(minutes=1), moved

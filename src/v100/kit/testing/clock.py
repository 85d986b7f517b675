"""The suite's clock: with ``V100_TEST_CLOCK_SHIFT_DAYS=N`` every test process (each xdist
worker too) runs with the wall clock moved N days ahead (``time-machine``, ticking), so a test
that assumed today's date fails here instead of on the day it breaks. CI runs the files marked
``time_sensitive`` (periods, expiries, schedules) once more this way, at +45 days.

The monotonic clock is left alone (time-machine does not move it), so timeouts and asyncio
behave as usual. Only this process moves: a server started as a subprocess keeps the real date
(such a test is marked ``real_clock`` and skipped in a shifted run), and so do S3 servers, whose
signatures carry the time, so the shifted run leaves out the S3 backend."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

__all__ = ["SHIFT_ENV", "shifted_days"]

SHIFT_ENV = "V100_TEST_CLOCK_SHIFT_DAYS"

_traveller: time_machine.travel | None = None


def shifted_days() -> int:
    """How far this run's clock is moved ahead, in days (0 when it is not)."""
    raw = os.environ.get(SHIFT_ENV, "").strip()
    return int(raw) if raw else 0


def pytest_configure(config: pytest.Config) -> None:
    global _traveller
    config.addinivalue_line(
        "markers",
        "time_sensitive: reasons about dates, periods, expiries or schedules; CI runs these "
        f"again with the clock moved ahead ({SHIFT_ENV})",
    )
    config.addinivalue_line(
        "markers",
        "real_clock: starts a process of its own, which keeps the real date: skipped when the "
        "clock is moved",
    )
    days = shifted_days()
    if days and _traveller is None:
        _traveller = time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True)
        _traveller.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _traveller
    if _traveller is not None:
        _traveller.stop()
        _traveller = None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not shifted_days():
        return
    skip = pytest.mark.skip(reason="a process of its own keeps the real date")
    for item in items:
        if item.get_closest_marker("real_clock"):
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str | None:
    days = shifted_days()
    return f"clock moved {days} days ahead: now is {datetime.now(UTC):%Y-%m-%d}" if days else None

"""Fixtures for meeting_signaling's tests: ``signaling`` serves the real app with uvicorn on
loopback (the socket is what is tested), embedded (in-process directory and bus) and
distributed (Redis); it yields the rooms' WebSocket base URL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from v100.kit.settings import PlatformSettings
from v100.kit.testing.bus import redis_url_or_skip
from v100.kit.testing.servers import serving
from v100.services.meeting_signaling.app import create_app
from v100.services.meeting_signaling.settings import MeetingSignalingSettings

from .support import SECRET

Signaling = Callable[..., contextlib.AbstractAsyncContextManager[str]]


@pytest.fixture(params=["embedded", "distributed"])
def platform(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "embedded":
        return {}
    return {"redis_url": redis_url_or_skip()}


def settings_for(
    platform: dict[str, Any], var_dir: Path, **overrides: Any
) -> MeetingSignalingSettings:
    return MeetingSignalingSettings(
        platform=PlatformSettings(var_dir=var_dir, internal_token_secret=SECRET, **platform),
        database_url=f"sqlite+aiosqlite:///{var_dir}/meeting_signaling.db",
        # The socket protocol alone: the meeting service's say on who may enter is tested in
        # test_standing.py, with a real meeting service (ADR 0061).
        **({"check_standing": False} | overrides),
    )


@pytest.fixture
def signaling(platform: dict[str, Any], tmp_path: Path) -> Signaling:
    """``async with signaling(**settings) as rooms:`` a replica; ``rooms + meeting_id`` is a
    room's WebSocket URL."""
    count = 0

    @contextlib.asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[str]:
        nonlocal count
        count += 1
        settings = settings_for(platform, tmp_path / f"replica{count}", **overrides)
        async with serving(create_app(settings), ready=True) as url:
            yield url.replace("http://", "ws://") + "/v1/signaling/rooms/"

    return run

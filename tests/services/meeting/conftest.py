"""Fixtures for meeting's tests: ``deploy`` runs the real app (real migrations and middleware)
in process through ASGI, embedded (SQLite, in-process bus) and distributed (PostgreSQL, Redis)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from v100.kit.db import drop_database
from v100.kit.settings import PlatformSettings
from v100.kit.testing.bus import private_redis
from v100.kit.testing.db import POSTGRES_URL_ENV, fresh_postgres_url, postgres_admin_url
from v100.kit.testing.http import running_app
from v100.kit.testing.net import free_port
from v100.kit.testing.servers import serving
from v100.services.meeting.app import create_app
from v100.services.meeting.settings import MeetingSettings
from v100.services.recording_processor.app import create_app as recording_processor_app
from v100.services.recording_processor.settings import RecordingProcessorSettings

from .support import INTERNAL_SECRET, Deployment


@pytest.fixture(params=["embedded", "distributed"])
async def stack(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[dict[str, Any], str]]:
    if request.param == "embedded":
        yield {}, f"sqlite+aiosqlite:///{tmp_path}/meeting.db"
        return
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set (scripts/services/postgres.sh start)")
    async with private_redis(tmp_path / "redis") as redis:
        database_url = fresh_postgres_url(admin_url)
        try:
            yield {"redis_url": redis.url}, database_url
        finally:
            await drop_database(database_url)


Deploy = Callable[..., contextlib.AbstractAsyncContextManager[Deployment]]


@pytest.fixture
def deploy(stack: tuple[dict[str, Any], str], tmp_path: Path) -> Deploy:
    """``async with deploy(**settings) as service:`` the service on this test's stack."""
    platform_settings, database_url = stack

    @contextlib.asynccontextmanager
    async def run(
        platform_overrides: dict[str, Any] | None = None, **overrides: Any
    ) -> AsyncIterator[Deployment]:
        platform = PlatformSettings(
            var_dir=tmp_path, internal_token_secret=INTERNAL_SECRET, **platform_settings,
            **(platform_overrides or {}),
        )  # fmt: skip
        settings = MeetingSettings(platform=platform, database_url=database_url, **overrides)
        app = create_app(settings)
        async with running_app(app) as http:
            yield Deployment(app=app, http=http, settings=settings)

    return run


@pytest.fixture
async def recording_processor(tmp_path: Path) -> AsyncIterator[str]:
    """The real recording_processor (embedded: SQLite, local disk) on loopback, where a
    recording's media goes (docs/adr/0057): pass its URL as ``recording_processor_url``. Its
    public URL is its own, so the upload capabilities it hands out point at it."""
    port = free_port()
    platform = PlatformSettings(
        var_dir=tmp_path / "recording_processor",
        internal_token_secret=INTERNAL_SECRET,
        public_url=f"http://127.0.0.1:{port}",
    )
    settings = RecordingProcessorSettings(
        platform=platform, database_url=f"sqlite+aiosqlite:///{tmp_path}/recording_processor.db"
    )
    async with serving(recording_processor_app(settings), ready=True, port=port) as url:
        yield url

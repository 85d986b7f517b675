"""Fixtures for meeting's tests: ``deploy`` runs the real app (real migrations and middleware)
in process through ASGI, embedded (SQLite, in-process bus) and distributed (PostgreSQL, Redis)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

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


@contextlib.asynccontextmanager
async def stack_on(name: str, directory: Path) -> AsyncIterator[tuple[dict[str, Any], str]]:
    """The platform settings and database URL of a stack ("embedded" or "distributed": a Redis
    of its own, a database dropped afterwards), its files in ``directory``."""
    if name == "embedded":
        yield {}, f"sqlite+aiosqlite:///{directory}/meeting.db"
        return
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set (scripts/services/postgres.sh start)")
    async with private_redis(directory / "redis") as redis:
        database_url = fresh_postgres_url(admin_url)
        try:
            yield {"redis_url": redis.url}, database_url
        finally:
            await drop_database(database_url)


@pytest.fixture(params=["embedded", "distributed"])
async def stack(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[dict[str, Any], str]]:
    async with stack_on(request.param, tmp_path) as made:
        yield made


@contextlib.asynccontextmanager
async def deployed(
    stack: tuple[dict[str, Any], str],
    var_dir: Path,
    platform_overrides: dict[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[Deployment]:
    """The service on ``stack`` (``overrides``: its settings), reached in process."""
    platform_settings, database_url = stack
    platform = PlatformSettings(
        var_dir=var_dir, internal_token_secret=INTERNAL_SECRET, **platform_settings,
        **(platform_overrides or {}),
    )  # fmt: skip
    settings = MeetingSettings(platform=platform, database_url=database_url, **overrides)
    app = create_app(settings)
    async with running_app(app) as http:
        yield Deployment(app=app, http=http, settings=settings)


Deploy = Callable[..., contextlib.AbstractAsyncContextManager[Deployment]]


@pytest.fixture
def deploy(stack: tuple[dict[str, Any], str], tmp_path: Path) -> Deploy:
    """``async with deploy(**settings) as service:`` the service on this test's stack."""

    def run(
        platform_overrides: dict[str, Any] | None = None, **overrides: Any
    ) -> contextlib.AbstractAsyncContextManager[Deployment]:
        return deployed(stack, tmp_path, platform_overrides, **overrides)

    return run


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["embedded", "distributed"])
async def module_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[tuple[dict[str, Any], str], Path]]:
    """``stack`` for a module's tests sharing one service (same test ids), and its directory."""
    directory = tmp_path_factory.mktemp("meeting")
    async with stack_on(request.param, directory) as made:
        yield made, directory


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_meeting(
    module_stack: tuple[tuple[dict[str, Any], str], Path],
) -> AsyncIterator[Deployment]:
    """The service with its default settings, one per module and stack: a module whose tests
    use it runs them on the module's loop, each for a tenant of its own."""
    stack, directory = module_stack
    async with deployed(stack, directory) as service:
        yield service


@contextlib.asynccontextmanager
async def serving_recording_processor(directory: Path) -> AsyncIterator[str]:
    """The real recording_processor (embedded: SQLite, local disk) on loopback, where a
    recording's media goes (docs/adr/0057): pass its URL as ``recording_processor_url``. Its
    public URL is its own, so the upload capabilities it hands out point at it."""
    port = free_port()
    platform = PlatformSettings(
        var_dir=directory / "recording_processor",
        internal_token_secret=INTERNAL_SECRET,
        public_url=f"http://127.0.0.1:{port}",
    )
    settings = RecordingProcessorSettings(
        platform=platform, database_url=f"sqlite+aiosqlite:///{directory}/recording_processor.db"
    )
    async with serving(recording_processor_app(settings), ready=True, port=port) as url:
        yield url


@pytest.fixture
async def recording_processor(tmp_path: Path) -> AsyncIterator[str]:
    """``serving_recording_processor`` for the test."""
    async with serving_recording_processor(tmp_path) as url:
        yield url

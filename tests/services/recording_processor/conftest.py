"""Fixtures for recording_processor's tests: ``deploy`` serves the real app (real migrations,
real middleware, jobs running) with uvicorn on loopback, embedded (SQLite, local disk,
in-process bus) and distributed (PostgreSQL, S3 on SeaweedFS, Redis, with an in-process
``v100 worker`` loop; one database, S3 prefix and Redis per module, shared by its tests one
after another: ``stack``); ``webm`` and friends are real media made by FFmpeg."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from v100.kit.db import create_engine, create_sessionmaker, drop_database
from v100.kit.jobs import run_worker
from v100.kit.settings import PlatformSettings
from v100.kit.testing.bus import private_redis
from v100.kit.testing.db import POSTGRES_URL_ENV, fresh_postgres_url, postgres_admin_url
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import serving
from v100.kit.testing.storage import empty_s3_prefix, s3_settings_or_skip
from v100.media.testing import make_audio, make_video
from v100.services.recording_processor import tasks
from v100.services.recording_processor.app import create_app
from v100.services.recording_processor.settings import RecordingProcessorSettings

from .support import INTERNAL_SECRET, Deployment

STACKS = ["embedded", "distributed"]


@dataclass(frozen=True)
class Stack:
    name: str
    platform: dict[str, Any]
    database_url: str
    s3_prefix: str | None = None

    @property
    def distributed(self) -> bool:
        return self.name == "distributed"


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Stack:
    """Embedded: a SQLite database of the test's own. Distributed: the module's
    (``module_distributed_stack``), which its tests share one after another, or one of the
    test's own for a test that asks for ``own_database`` (a sweep that counts every row)."""
    if request.param == "embedded":
        return Stack("embedded", {}, f"sqlite+aiosqlite:///{tmp_path}/recording_processor.db")
    own = "own_database" in request.fixturenames
    made = request.getfixturevalue("own_distributed_stack" if own else "module_distributed_stack")
    assert isinstance(made, Stack)
    return made


@pytest.fixture
def own_database() -> None:
    """Asked for by a test whose distributed stack must be its own (see ``stack``)."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_distributed_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    """PostgreSQL, S3 and Redis for a module's distributed tests, made at its first and
    dropped after its last (a database made and dropped, and a Redis started and stopped, per
    test cost about 2 s at load 15). The tests run one after another, each working for
    recordings of its own; a job one test leaves queued is in the same database for the next
    test's worker, which runs it."""
    async with _distributed(tmp_path_factory.mktemp("redis")) as made:
        yield made


@pytest_asyncio.fixture(loop_scope="module")
async def own_distributed_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with _distributed(tmp_path / "redis") as made:
        yield made


@contextlib.asynccontextmanager
async def _distributed(redis_dir: Path) -> AsyncIterator[Stack]:
    s3 = s3_settings_or_skip()
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set (scripts/services/postgres.sh start)")
    # A Redis of its own: the service's job stream has a fixed name, which two deployments on
    # one server (another module, another run on this machine) would share, each taking the
    # other's jobs (left for the sweep to send again, seconds later).
    async with private_redis(redis_dir) as redis:
        prefix = f"v100test-{uuid.uuid4().hex[:12]}"
        database_url = fresh_postgres_url(admin_url)
        platform = {
            "redis_url": redis.url,
            "storage_url": f"s3://{s3['bucket']}/{prefix}",
            "s3_endpoint_url": s3["endpoint_url"],
            "s3_access_key_id": s3["access_key_id"],
            "s3_secret_access_key": s3["secret_access_key"],
        }
        try:
            yield Stack("distributed", platform, database_url, prefix)
        finally:
            await drop_database(database_url)
            await empty_s3_prefix(prefix)


def settings_for(stack: Stack, tmp_path: Path, **overrides: Any) -> RecordingProcessorSettings:
    platform = PlatformSettings(
        var_dir=tmp_path, internal_token_secret=INTERNAL_SECRET, **stack.platform
    )
    return RecordingProcessorSettings(
        platform=platform, database_url=stack.database_url, **overrides
    )


Deploy = Callable[..., contextlib.AbstractAsyncContextManager[Deployment]]


@pytest.fixture
def deploy(stack: Stack, tmp_path: Path) -> Deploy:
    """``async with deploy(**settings) as service:`` the service on this test's stack, called
    in process through ASGI; ``socket=True`` serves it with uvicorn on loopback instead, for
    what needs a connection (WebSockets, raw HTTP/1.1 written by the test)."""

    @contextlib.asynccontextmanager
    async def run(
        *, worker: bool = True, socket: bool = False, **overrides: Any
    ) -> AsyncIterator[Deployment]:
        settings = settings_for(stack, tmp_path, **overrides)
        app = create_app(settings)
        async with _reachable(app, socket=socket) as http:
            deployment = Deployment(
                app=app,
                url=str(http.base_url).rstrip("/"),
                http=http,
                settings=settings,
                stack=stack.name,
            )
            if not worker:
                yield deployment
                return
            async with in_process_worker(stack, app, settings):
                yield deployment

    return run


@contextlib.asynccontextmanager
async def _reachable(app: Any, *, socket: bool) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the started app (its /ready answered): over loopback to uvicorn serving it
    (``socket``), or through an in-process ASGI transport."""
    if not socket:
        async with running_app(app) as http:
            yield http
        return
    async with serving(app, ready=True) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        yield http


@contextlib.asynccontextmanager
async def in_process_worker(
    stack: Stack, app: Any, settings: RecordingProcessorSettings, *, lease_seconds: float = 5
) -> AsyncIterator[None]:
    """Distributed, the app only sends jobs: run what ``v100 worker`` runs, in this process."""
    if not stack.distributed:
        yield
        return
    engine = create_engine(stack.database_url)
    sessions = create_sessionmaker(engine)
    # Its jobs use the app's store and bus (installed in this process by the app's start-up).
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(
            tasks.jobs,
            sessions,
            settings.platform.redis_url,
            stop=stop,
            lease_seconds=lease_seconds,
        )
    )
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait({worker}, timeout=15)
        await engine.dispose()


def environment(stack: Stack, tmp_path: Path, **service: str) -> dict[str, str]:
    """The environment a ``v100`` process needs to join this test's deployment."""
    env = {
        "V100_VAR_DIR": str(tmp_path),
        "V100_INTERNAL_TOKEN_SECRET": INTERNAL_SECRET,
        "V100_RECORDING_PROCESSOR_DATABASE_URL": stack.database_url,
        "V100_LOG_LEVEL": "WARNING",
    }
    env.update({f"V100_{name.upper()}": str(value) for name, value in stack.platform.items()})
    env.update({f"V100_RECORDING_PROCESSOR_{k.upper()}": v for k, v in service.items()})
    return env


# -- media (made once per session by FFmpeg's lavfi sources) ----------------------------------

MediaFile = Callable[[], Awaitable[bytes]]


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recording-media")


@pytest.fixture(scope="session")
def webm(media_dir: Path) -> bytes:
    """A 7 s VP9/Opus WebM, 320x240, as a browser's MediaRecorder would send."""
    return make_video(media_dir / "meeting.webm", seconds=7, width=320, height=240).read_bytes()


@pytest.fixture(scope="session")
def audio_webm(media_dir: Path) -> bytes:
    """A 3 s Opus-only WebM (an audio-only meeting)."""
    return make_audio(media_dir / "voice.webm", seconds=3).read_bytes()

"""Fixtures for stream_proxy's tests: the real app (real migrations, middleware, the health
checker) in process on SQLite with local disk and on PostgreSQL with S3, alone (routes) or
beside a real video_processing served on loopback on the same backend (playback: ``stack``
per test, ``shared_stack`` per module and backend for a module whose tests run on its loop)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests.services.video_processing.support import VideoApp
from tests.support.billed import BACKENDS, Backend, SharedBilling, billed_backend
from v100.kit.db import drop_database
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import serving
from v100.media.testing import make_video
from v100.services.stream_proxy.app import create_app
from v100.services.stream_proxy.settings import StreamProxySettings
from v100.services.video_processing.app import create_app as create_video_processing
from v100.services.video_processing.settings import VideoProcessingSettings

from .support import INTERNAL_SECRET, Stack, StreamApp


@pytest.fixture
def internal_secret() -> str:
    return INTERNAL_SECRET


def settings_on(backend: Backend) -> StreamProxySettings:
    return StreamProxySettings(
        platform=backend.platform,
        public_base_url="http://service",
        # The origins of the route tests are on loopback.
        backend_allow_cidrs=["127.0.0.0/8"],
        health_min_interval_seconds=0.1,
        health_timeout_seconds=2.0,
        proxy_connect_seconds=2.0,
        # Every request asks video_processing again: a deleted video stops at once.
        video_check_seconds=0.0,
    )


@pytest.fixture
def sp_settings(backend: Backend) -> StreamProxySettings:
    return settings_on(backend)


@pytest.fixture
async def sp(sp_settings: StreamProxySettings) -> AsyncIterator[StreamApp]:
    app = create_app(sp_settings)
    async with running_app(app) as http:
        yield StreamApp(app=app, http=http, settings=sp_settings)


@contextlib.asynccontextmanager
async def stack_on(backend: Backend, billing_url: str) -> AsyncIterator[Stack]:
    """stream_proxy (in process) and video_processing (on loopback) on one backend, each with
    its own database, sharing the internal secret and the object store."""
    database_url = None
    if backend.name == "distributed":
        admin = postgres_admin_url()
        assert admin is not None
        database_url = fresh_postgres_url(admin)
    vp_settings = VideoProcessingSettings(
        platform=backend.platform, billing_url=billing_url, database_url=database_url,
        public_base_url="http://service", hls_segment_seconds=1.0,
    )  # fmt: skip
    vp_app = create_video_processing(vp_settings)
    try:
        async with (
            serving(vp_app, ready=True) as vp_url,
            httpx.AsyncClient(base_url=vp_url, trust_env=False, timeout=30) as vp_http,
        ):
            settings = settings_on(backend).model_copy(update={"video_processing_url": vp_url})
            app = create_app(settings)
            async with running_app(app) as http:
                yield Stack(
                    StreamApp(app=app, http=http, settings=settings),
                    VideoApp(app=vp_app, http=vp_http, settings=vp_settings, billing=billing_url),
                )
    finally:
        if database_url is not None:
            await drop_database(database_url)


@pytest.fixture
async def stack(backend: Backend, billing_url: str) -> AsyncIterator[Stack]:
    async with stack_on(backend, billing_url) as made:
        yield made


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def shared_stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_billing: SharedBilling,
) -> AsyncIterator[Stack]:
    """``stack``, one per module and backend (the test ids are the same: ``[embedded]``,
    ``[distributed]``), for a module whose tests run on its loop, each for tenants of its
    own."""
    var_dir = tmp_path_factory.mktemp("stream-proxy")
    async with (
        billed_backend(request.param, INTERNAL_SECRET, var_dir) as backend,
        stack_on(backend, shared_billing.url(backend)) as made,
    ):
        yield made


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stream-media")


@pytest.fixture(scope="session")
def small_video(media_dir: Path) -> Path:
    """3 s of 640x360 with a tone: a two-rung ladder with an audio rendition."""
    return make_video(media_dir / "small.mp4", seconds=3, width=640, height=360, fps=25)

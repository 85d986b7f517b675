"""Fixtures for video_processing's tests: the real app (real migrations, middleware, jobs) on
SQLite with local storage ("embedded") and on PostgreSQL with S3 (SeaweedFS, "distributed"),
next to a real billing app served on loopback so credit holds are real. ``vp`` is one app per
module and backend pair (the module's tests run on the module's loop and stay apart by
tenant); a test needing settings of its own builds its own app from ``vp_settings`` (a backend
of the test's own) in a module without ``vp``: the job resources an app installs are the
process's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.billed import Backend
from tests.support.shared_backend import module_backend as module_backend
from tests.support.shared_backend import module_billing_url as module_billing_url
from v100.kit.testing.http import running_app
from v100.media.testing import make_video
from v100.services.video_processing.app import create_app
from v100.services.video_processing.settings import VideoProcessingSettings

from .support import INTERNAL_SECRET, VideoApp


@pytest.fixture(scope="session")
def internal_secret() -> str:
    """The secret of this package's service: ``backend`` (tests/services/conftest.py) and the
    session's billing app use it."""
    return INTERNAL_SECRET


@pytest.fixture
def vp_settings(backend: Backend, billing_url: str) -> VideoProcessingSettings:
    return VideoProcessingSettings(
        platform=backend.platform,
        billing_url=billing_url,
        public_base_url="http://service",
        hls_segment_seconds=1.0,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vp(module_backend: Backend, module_billing_url: str) -> AsyncIterator[VideoApp]:
    settings = VideoProcessingSettings(
        platform=module_backend.platform,
        billing_url=module_billing_url,
        public_base_url="http://service",
        hls_segment_seconds=1.0,
    )
    app = create_app(settings)
    async with running_app(app) as http:
        yield VideoApp(app=app, http=http, settings=settings, billing=module_billing_url)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("video-media")


@pytest.fixture(scope="session")
def small_video(media_dir: Path) -> Path:
    """3 s of 640x360 with a tone: a two-rung ladder."""
    return make_video(media_dir / "small.mp4", seconds=3, width=640, height=360, fps=25)

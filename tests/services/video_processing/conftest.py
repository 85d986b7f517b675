"""Fixtures for video_processing's tests: the real app (real migrations, middleware, jobs) on
SQLite with local storage ("embedded") and on PostgreSQL with S3 (SeaweedFS, "distributed"),
next to a real billing app served on loopback so credit holds are real."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.billed import Backend
from v100.kit.testing.http import running_app
from v100.media.testing import make_video
from v100.services.video_processing.app import create_app
from v100.services.video_processing.settings import VideoProcessingSettings

from .support import INTERNAL_SECRET, VideoApp


@pytest.fixture
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


@pytest.fixture
async def vp(vp_settings: VideoProcessingSettings, billing_url: str) -> AsyncIterator[VideoApp]:
    app = create_app(vp_settings)
    async with running_app(app) as http:
        yield VideoApp(app=app, http=http, settings=vp_settings, billing=billing_url)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("video-media")


@pytest.fixture(scope="session")
def small_video(media_dir: Path) -> Path:
    """3 s of 640x360 with a tone: a two-rung ladder."""
    return make_video(media_dir / "small.mp4", seconds=3, width=640, height=360, fps=25)

"""Fixtures for video_processing's tests: the real app (real migrations, middleware, jobs) on
SQLite with local storage ("embedded") and on PostgreSQL with S3 (SeaweedFS, "distributed"),
next to a real billing app served on loopback so credit holds are real."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from v100.kit.db import drop_database
from v100.kit.settings import PlatformSettings
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import serving
from v100.kit.testing.storage import s3_settings_or_skip
from v100.media.testing import make_video
from v100.services.billing.app import create_app as create_billing
from v100.services.billing.settings import BillingSettings
from v100.services.video_processing.app import create_app
from v100.services.video_processing.settings import VideoProcessingSettings

from .support import INTERNAL_SECRET, VideoApp


@dataclass(frozen=True)
class Backend:
    platform: PlatformSettings
    billing_database_url: str


@pytest.fixture(params=["embedded", "distributed"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """SQLite + local disk, or PostgreSQL + S3 (skipped when those servers are not given)."""
    if request.param == "embedded":
        platform = PlatformSettings(
            var_dir=tmp_path,
            internal_token_secret=INTERNAL_SECRET,
            database_url=f"sqlite+aiosqlite:///{tmp_path}/{{service}}.db",
            storage_url=f"file://{tmp_path}/objects",
        )
        yield Backend(platform, f"sqlite+aiosqlite:///{tmp_path}/billing.db")
        return
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("V100_TEST_POSTGRES_URL is not set")
    s3 = s3_settings_or_skip()
    urls = {name: fresh_postgres_url(admin) for name in ("video_processing", "billing")}
    prefix = f"v100test-{uuid.uuid4().hex[:12]}"
    platform = PlatformSettings(
        var_dir=tmp_path,
        internal_token_secret=INTERNAL_SECRET,
        database_url=urls["video_processing"],
        storage_url=f"s3://{s3['bucket']}/{prefix}",
        s3_endpoint_url=s3["endpoint_url"],
        s3_access_key_id=s3["access_key_id"],
        s3_secret_access_key=s3["secret_access_key"],
    )
    try:
        yield Backend(platform, urls["billing"])
    finally:
        for url in urls.values():
            await drop_database(url)


@pytest.fixture
async def billing_url(backend: Backend) -> AsyncIterator[str]:
    settings = BillingSettings(platform=backend.platform, database_url=backend.billing_database_url)
    async with serving(create_billing(settings), ready=True) as url:
        yield url


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


def postgres_or_skip() -> str:
    url = os.environ.get("V100_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("V100_TEST_POSTGRES_URL is not set")
    return url

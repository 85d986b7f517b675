"""Fixtures for media_processor's tests: the real app (real migrations, middleware, jobs) on
SQLite with local disk ("embedded") and on PostgreSQL with S3 on SeaweedFS ("distributed"),
next to a real billing app on loopback so transcode credit holds are real; media made by
FFmpeg's lavfi sources once per session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from v100.kit.db import drop_database
from v100.kit.settings import PlatformSettings
from v100.kit.storage import S3Store
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import serving
from v100.kit.testing.storage import s3_settings_or_skip
from v100.media.testing import make_audio, make_video
from v100.services.billing.app import create_app as create_billing
from v100.services.billing.settings import BillingSettings
from v100.services.media_processor.app import create_app
from v100.services.media_processor.settings import MediaProcessorSettings

from .support import INTERNAL_SECRET, MediaApp


@dataclass(frozen=True)
class Backend:
    name: str
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
        yield Backend("embedded", platform, f"sqlite+aiosqlite:///{tmp_path}/billing.db")
        return
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("V100_TEST_POSTGRES_URL is not set")
    s3 = s3_settings_or_skip()
    urls = {name: fresh_postgres_url(admin) for name in ("media_processor", "billing")}
    prefix = f"v100test-{uuid.uuid4().hex[:12]}"
    platform = PlatformSettings(
        var_dir=tmp_path,
        internal_token_secret=INTERNAL_SECRET,
        database_url=urls["media_processor"],
        storage_url=f"s3://{s3['bucket']}/{prefix}",
        s3_endpoint_url=s3["endpoint_url"],
        s3_access_key_id=s3["access_key_id"],
        s3_secret_access_key=s3["secret_access_key"],
    )
    try:
        yield Backend("distributed", platform, urls["billing"])
    finally:
        for url in urls.values():
            await drop_database(url)
        store = S3Store(
            s3["bucket"],
            prefix=prefix,
            endpoint_url=s3["endpoint_url"],
            access_key_id=s3["access_key_id"],
            secret_access_key=s3["secret_access_key"],
        )
        async with store:
            async for info in store.list():
                await store.delete(info.key)


@pytest.fixture
async def billing_url(backend: Backend) -> AsyncIterator[str]:
    settings = BillingSettings(platform=backend.platform, database_url=backend.billing_database_url)
    async with serving(create_billing(settings), ready=True) as url:
        yield url


@pytest.fixture
def mp_settings(backend: Backend, billing_url: str) -> MediaProcessorSettings:
    return MediaProcessorSettings(platform=backend.platform, billing_url=billing_url)


@pytest.fixture
async def mp(mp_settings: MediaProcessorSettings) -> AsyncIterator[MediaApp]:
    app = create_app(mp_settings)
    async with running_app(app) as http:
        yield MediaApp(app=app, http=http, settings=mp_settings, billing=mp_settings.billing_url)


# -- media (made once per session by FFmpeg's lavfi sources) ----------------------------------


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media-processor-media")


@pytest.fixture(scope="session")
def small_video(media_dir: Path) -> bytes:
    """3 s of 640x360 at 25 fps with a tone."""
    path = make_video(media_dir / "small.mp4", seconds=3, width=640, height=360, fps=25)
    return path.read_bytes()


@pytest.fixture(scope="session")
def quiet_tone(media_dir: Path) -> bytes:
    """4 s of a tone at -30 dBFS, 48 kHz (WAV)."""
    return make_audio(media_dir / "quiet.wav", seconds=4, volume_db=-30).read_bytes()

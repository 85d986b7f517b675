"""Fixtures for media_processor's tests: the real app (real migrations, middleware, jobs) on
SQLite with local disk ("embedded") and on PostgreSQL with S3 on SeaweedFS ("distributed"),
next to a real billing app on loopback so transcode credit holds are real; media made by
FFmpeg's lavfi sources once per session. ``mp`` is one app per module and backend pair (the
module's tests run on the module's loop and stay apart by tenant); a test needing settings of
its own builds its own app from ``mp_settings``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.billed import Backend
from tests.support.shared_backend import module_backend as module_backend
from tests.support.shared_backend import module_billing_url as module_billing_url
from v100.kit.testing.http import running_app
from v100.media.testing import make_audio, make_video
from v100.services.media_processor.app import create_app
from v100.services.media_processor.settings import MediaProcessorSettings

from .support import INTERNAL_SECRET, MediaApp


@pytest.fixture(scope="session")
def internal_secret() -> str:
    """The secret of this package's service: ``backend`` (tests/services/conftest.py) and the
    session's billing app use it."""
    return INTERNAL_SECRET


@pytest.fixture(scope="session")
def whisper_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Whisper's weights joined once per session (about 145 MB), not once per app."""
    return tmp_path_factory.mktemp("whisper-models")


@pytest.fixture(scope="module")
def mp_settings(
    module_backend: Backend, module_billing_url: str, whisper_model_dir: Path
) -> MediaProcessorSettings:
    return MediaProcessorSettings(
        platform=module_backend.platform,
        billing_url=module_billing_url,
        whisper_model_dir=whisper_model_dir,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
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

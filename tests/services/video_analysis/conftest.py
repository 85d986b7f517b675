"""Fixtures for video_analysis's tests: the real app (real migrations, middleware, jobs) on
SQLite with local disk ("embedded") and on PostgreSQL with S3 ("distributed"), next to a real
video_processing app served on loopback (the analysis reads videos from it with the platform
scope ``service:videos``) and the session's real billing app, so credit holds are real;
transcription is not running (the transcript stage is skipped, saying so) unless a test starts
it. The talking-heads video is made once per session (skipped without espeak-ng). ``stack`` is
made once per module and backend pair (the module's tests run on the module's loop and stay
apart by tenant); a test needing settings of its own builds its own apps on ``backend`` in a
module without ``stack``: the job resources an app installs are the process's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from tests.services.video_processing.support import VideoApp
from tests.support.billed import Backend
from tests.support.shared_backend import module_backend as module_backend
from tests.support.shared_backend import module_billing_url as module_billing_url
from v100.ai.testing import espeak_ng
from v100.kit.db import drop_database
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import dead_url, serving
from v100.services.video_analysis.app import create_app
from v100.services.video_analysis.settings import VideoAnalysisSettings
from v100.services.video_processing.app import create_app as create_video_processing
from v100.services.video_processing.settings import VideoProcessingSettings

from .support import INTERNAL_SECRET, AnalysisApp, Stack, Talk, make_talk


@pytest.fixture(scope="session")
def internal_secret() -> str:
    return INTERNAL_SECRET


@pytest.fixture(scope="session")
def talk(tmp_path_factory: pytest.TempPathFactory) -> Talk:
    if espeak_ng() is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    return make_talk(tmp_path_factory.mktemp("video-analysis-media"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(module_backend: Backend, module_billing_url: str) -> AsyncIterator[Stack]:
    """video_analysis (in process) and video_processing (on loopback) on one backend, each with
    its own database, sharing the internal secret and the session's billing app."""
    backend, billing_url = module_backend, module_billing_url
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
            settings = VideoAnalysisSettings(
                platform=backend.platform, billing_url=billing_url, video_processing_url=vp_url,
                transcription_url=dead_url(), workers=2,
            )  # fmt: skip
            app = create_app(settings)
            async with running_app(app) as http:
                yield Stack(
                    AnalysisApp(app=app, http=http, settings=settings, billing=billing_url),
                    VideoApp(app=vp_app, http=vp_http, settings=vp_settings, billing=billing_url),
                )
    finally:
        if database_url is not None:
            await drop_database(database_url)

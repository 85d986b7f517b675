"""Builds the transcription app: transcripts under /v1/transcripts (from a URL, a stored video or
an uploaded file, transcribed by a job with the chosen backend), live sessions under
/v1/transcription-sessions (their WebSocket), the tenant's settings under /v1/transcription,
automatic transcripts of ready videos (a consumer of the video stream), a completed
transcript's document and a stored video's transcript for the platform's services
(service:transcripts), its jobs, and the
backends' models closed at shutdown."""

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import DatabaseSpec, Runtime, ServiceSpec, StorageSpec, create_service_app
from v100.kit.jobs import running_jobs
from v100.services.transcription import tasks
from v100.services.transcription.api import FILES, transcripts_router
from v100.services.transcription.auto import automatic_transcripts
from v100.services.transcription.backends import BACKENDS
from v100.services.transcription.internal_api import internal_router
from v100.services.transcription.live_api import sessions_router
from v100.services.transcription.live_backends import LIVE_MODEL
from v100.services.transcription.models import Base
from v100.services.transcription.resources import RESOURCES
from v100.services.transcription.settings import TranscriptionSettings as Settings
from v100.services.transcription.settings_api import settings_router
from v100.services.transcription.speakers import DIARIZER

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


@contextlib.asynccontextmanager
async def _backends(runtime: Runtime) -> AsyncIterator[None]:
    """The transcribers and the diarizer made in this process (their models, their threads) go
    with the app."""
    try:
        yield
    finally:
        BACKENDS.close()
        LIVE_MODEL.close()
        DIARIZER.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    lease = settings.job_lease_seconds
    return create_service_app(
        ServiceSpec(
            settings,
            title="V100 transcription",
            description="Transcripts of audio and video files (uploaded or at a URL) with word "
            "timestamps and the detected language, and live sessions over WebSocket; local "
            "Whisper by default.",
            routers=[internal_router, transcripts_router, settings_router, sessions_router],
            database=DATABASE,
            # Uploads and fetched sources are kept while their job needs them; no links out.
            storage=StorageSpec(),
            # Uploads are bounded by the service while they stream (max_source_bytes).
            body_limits={FILES: sys.maxsize},
            components=[
                _backends,
                RESOURCES.installed(settings),
                automatic_transcripts(settings),
                running_jobs(tasks.jobs, lease_seconds=lease, sweep_interval=min(15.0, lease / 2)),
            ],
        )
    )

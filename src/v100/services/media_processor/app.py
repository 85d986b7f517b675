"""Builds the media_processor app: platform specs, inputs, media jobs, chunk assemblies and
language detection under /v1/media, captions under /v1/captions, its jobs, the process's
Whisper model, and the local-disk store's presigned download links under
``/v1/media/files/``."""

import sys
from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import DatabaseSpec, ServiceSpec, StorageSpec, create_service_app
from v100.kit.jobs import running_jobs
from v100.services.media_processor import tasks
from v100.services.media_processor.api import PREFIX, captions_router, media_router
from v100.services.media_processor.language import speech_models
from v100.services.media_processor.models import Base
from v100.services.media_processor.resources import FILES_PATH, RESOURCES
from v100.services.media_processor.settings import MediaProcessorSettings as Settings

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    lease = settings.job_lease_seconds
    return create_service_app(
        ServiceSpec(
            settings,
            title="V100 media_processor",
            description="Platform specs, media jobs (transcode, loudness, resampling, audio, "
            "thumbnails, burnt-in captions), chunk assembly, captions and language detection.",
            routers=[media_router, captions_router],
            database=DATABASE,
            storage=StorageSpec(presigned_path=FILES_PATH),
            body_limits={
                # Inputs are bounded by the service while they stream (max_input_bytes).
                f"{PREFIX}/inputs/": sys.maxsize,
                f"{PREFIX}/assemblies/": settings.max_part_bytes,
            },
            components=[
                RESOURCES.installed(settings),
                speech_models(settings),
                running_jobs(tasks.jobs, lease_seconds=lease, sweep_interval=min(15.0, lease / 2)),
            ],
        )
    )

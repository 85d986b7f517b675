"""Builds the media_processor app: platform specs, inputs, media jobs and chunk assemblies under
/v1/media, its jobs, and the local-disk store's presigned download links under
``/v1/media/files/``."""

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import DatabaseSpec, Runtime, ServiceSpec, StorageSpec, create_service_app
from v100.kit.jobs import running_jobs
from v100.services.media_processor import resources, tasks
from v100.services.media_processor.api import PREFIX, media_router
from v100.services.media_processor.models import Base
from v100.services.media_processor.settings import MediaProcessorSettings as Settings

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    lease = settings.job_lease_seconds

    @contextlib.asynccontextmanager
    async def job_resources(runtime: Runtime) -> AsyncIterator[None]:
        # What jobs run in this process work with: the app's own backends.
        assert runtime.storage is not None
        installed = resources.install(settings, runtime.storage, runtime.bus)
        try:
            yield
        finally:
            await resources.uninstall(installed)

    return create_service_app(
        ServiceSpec(
            settings,
            title="V100 media_processor",
            description="Platform specs, media jobs (transcode, loudness, resampling, audio, "
            "thumbnails) and chunk assembly.",
            routers=[media_router],
            database=DATABASE,
            storage=StorageSpec(presigned_path=resources.FILES_PATH),
            body_limits={
                # Inputs are bounded by the service while they stream (max_input_bytes).
                f"{PREFIX}/inputs/": sys.maxsize,
                f"{PREFIX}/assemblies/": settings.max_part_bytes,
            },
            components=[
                job_resources,
                running_jobs(tasks.jobs, lease_seconds=lease, sweep_interval=min(15.0, lease / 2)),
            ],
        )
    )

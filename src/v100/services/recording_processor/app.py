"""Builds the recording_processor app: the recordings API (with its progress WebSocket), its
processing jobs, and the local-disk store's presigned download links under
``/v1/recordings/files/``."""

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import DatabaseSpec, Runtime, ServiceSpec, StorageSpec, create_service_app
from v100.kit.jobs import running_jobs
from v100.services.recording_processor import tasks
from v100.services.recording_processor.api import PREFIX, recordings_router
from v100.services.recording_processor.models import Base
from v100.services.recording_processor.processing import Resources
from v100.services.recording_processor.settings import RecordingProcessorSettings as Settings

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")
# Local-disk presigned links resolve here (through the gateway: its origin); S3 signs its own.
PRESIGNED_PATH = f"{PREFIX}/files"
# The generic body limit steps aside under the prefix: every body there is read by api.py with
# its own bound (a recording: ``max_recording_bytes``, enforced by Content-Length up front and
# while streaming; metadata: 64 KiB), so an oversized recording is answered by the service,
# which errors the recording and aborts its upload, not by a middleware that knows neither.
_READ_BY_THE_SERVICE = sys.maxsize


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def job_resources(runtime: Runtime) -> AsyncIterator[None]:
        # What jobs run in this process work with: the app's own backends.
        assert runtime.sessions is not None
        assert runtime.storage is not None
        tasks.bind(runtime.sessions, Resources(settings, runtime.storage, runtime.bus))
        try:
            yield
        finally:
            tasks.unbind(runtime.sessions)

    return create_service_app(
        ServiceSpec(
            settings,
            title="V100 recording_processor",
            description="Meeting recordings: streaming ingest, MP4 transcode, thumbnails, "
            "downloads.",
            routers=[recordings_router],
            database=DATABASE,
            storage=StorageSpec(presigned_path=PRESIGNED_PATH),
            body_limits={PREFIX: _READ_BY_THE_SERVICE},
            components=[
                job_resources,
                running_jobs(tasks.jobs, lease_seconds=settings.job_lease_seconds),
            ],
        )
    )

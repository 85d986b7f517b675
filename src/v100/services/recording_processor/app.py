"""Builds the recording_processor app: the recordings API (with its progress WebSocket), the
platform services' routes (a meeting's recordings), the meeting recordings' chunked tus ingest
under ``/v1/recordings/uploads/``, its processing jobs, and the local-disk store's presigned
download links under ``/v1/recordings/files/``."""

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import (
    Access,
    DatabaseSpec,
    Runtime,
    ServiceSpec,
    StorageSpec,
    create_service_app,
)
from v100.kit.jobs import running_jobs
from v100.services.recording_processor import tasks
from v100.services.recording_processor.api import PREFIX, recordings_router
from v100.services.recording_processor.capabilities import UploadCapabilities
from v100.services.recording_processor.internal_api import internal_router
from v100.services.recording_processor.meeting_uploads import meeting_upload_routes
from v100.services.recording_processor.models import Base
from v100.services.recording_processor.resources import FILES_PATH, RESOURCES
from v100.services.recording_processor.settings import RecordingProcessorSettings as Settings

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")
# The generic body limit steps aside under the prefix: every body there is read by api.py with
# its own bound (a recording: ``max_recording_bytes``, enforced by Content-Length up front and
# while streaming; metadata: 64 KiB), so an oversized recording is answered by the service,
# which errors the recording and aborts its upload, not by a middleware that knows neither.
_READ_BY_THE_SERVICE = sys.maxsize


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def capabilities(runtime: Runtime) -> AsyncIterator[None]:
        runtime.provide(UploadCapabilities(settings.platform.resolved_internal_token_secret))
        yield

    app = create_service_app(
        ServiceSpec(
            settings,
            title="V100 recording_processor",
            description="Meeting recordings: streaming ingest, MP4 transcode, thumbnails, "
            "downloads.",
            routers=[internal_router, recordings_router],
            database=DATABASE,
            storage=StorageSpec(presigned_path=FILES_PATH),
            # A meeting recording's tus URL carries its own credential (an upload capability).
            access=Access(public_prefixes=["/v1/recordings/uploads/"]),
            body_limits={PREFIX: _READ_BY_THE_SERVICE},
            components=[
                capabilities,
                RESOURCES.installed(settings),
                running_jobs(tasks.jobs, lease_seconds=settings.job_lease_seconds),
            ],
        )
    )
    # The meeting recordings' tus routes (include_in_schema=False) before the JSON routes.
    app.router.routes[0:0] = meeting_upload_routes(settings)
    return app

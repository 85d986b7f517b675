"""Builds the video_processing app: the JSON API, caption tracks, the routes of the platform's
other services (service:videos), the tus endpoints under /v1/uploads (before the JSON routes),
signed playback, the local store's download links, and its jobs."""

import contextlib
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
from v100.services.video_processing import tasks
from v100.services.video_processing.api import (
    clips_router,
    projects_router,
    uploads_router,
    videos_router,
)
from v100.services.video_processing.captions_api import captions_router
from v100.services.video_processing.internal_api import internal_router
from v100.services.video_processing.models import Base
from v100.services.video_processing.playback import playback_router
from v100.services.video_processing.resources import FILES_PATH, RESOURCES
from v100.services.video_processing.settings import VideoProcessingSettings as Settings
from v100.services.video_processing.tokens import UrlSigner
from v100.services.video_processing.uploads import tus_routes

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    lease = settings.job_lease_seconds

    @contextlib.asynccontextmanager
    async def signer(runtime: Runtime) -> AsyncIterator[None]:
        runtime.provide(UrlSigner(settings.platform.resolved_internal_token_secret))
        yield

    app = create_service_app(
        ServiceSpec(
            settings,
            title="V100 video_processing",
            description="Uploads (tus), projects, videos, renditions, highlights and clips.",
            # The playback router first: /v1/videos/playback/... must not read as a video id.
            routers=[
                playback_router,
                projects_router,
                videos_router,
                captions_router,
                internal_router,
                clips_router,
                uploads_router,
            ],
            database=DATABASE,
            storage=StorageSpec(presigned_path=FILES_PATH),
            access=Access(public_prefixes=["/v1/uploads/direct/", "/v1/videos/playback/"]),
            body_limits={"/v1/uploads": settings.max_chunk_bytes},
            components=[
                signer,
                RESOURCES.installed(settings),
                running_jobs(tasks.jobs, lease_seconds=lease, sweep_interval=min(15.0, lease / 2)),
            ],
        )
    )
    # tus before the JSON routes: they share /v1/uploads (a tus POST carries Tus-Resumable).
    app.router.routes[0:0] = tus_routes(settings)
    return app

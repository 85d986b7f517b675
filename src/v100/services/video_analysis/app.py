"""Builds the video_analysis app: analyses under /v1/analyses (their stages run by jobs on a
pool of ``workers`` slots, results read per stage, keyframe images through presigned links
under /v1/analyses/files), the tenant's settings under /v1/video-analysis, and its jobs."""

from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import DatabaseSpec, ServiceSpec, StorageSpec, create_service_app
from v100.kit.jobs import running_jobs
from v100.services.video_analysis import tasks
from v100.services.video_analysis.api import analyses_router
from v100.services.video_analysis.clips_api import clips_router
from v100.services.video_analysis.models import Base
from v100.services.video_analysis.resources import FILES_PATH, RESOURCES
from v100.services.video_analysis.settings import VideoAnalysisSettings as Settings
from v100.services.video_analysis.settings_api import settings_router

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    lease = settings.job_lease_seconds
    return create_service_app(
        ServiceSpec(
            settings,
            title="V100 video_analysis",
            description="Analyses of stored videos: scenes (cuts, fades, dissolves), keyframes, "
            "face tracks and the active speaker, speech segments, loudness, energy and motion "
            "curves, the transcript, highlights and clips rendered from them.",
            routers=[analyses_router, clips_router, settings_router],
            database=DATABASE,
            # The fetched videos (while their analysis runs) and the keyframe images.
            storage=StorageSpec(presigned_path=FILES_PATH),
            components=[
                RESOURCES.installed(settings),
                running_jobs(
                    tasks.jobs,
                    concurrency=settings.workers,
                    lease_seconds=lease,
                    sweep_interval=min(15.0, lease / 2),
                ),
            ],
        )
    )

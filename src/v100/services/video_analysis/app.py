"""Builds the video_analysis app."""

from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import DatabaseSpec, ServiceSpec, StorageSpec, create_service_app
from v100.services.video_analysis.models import Base
from v100.services.video_analysis.settings import VideoAnalysisSettings as Settings

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        ServiceSpec(
            settings or Settings(),
            title="V100 video_analysis",
            database=DATABASE,
            # It will keep media objects; readiness checks the store.
            storage=StorageSpec(),
        )
    )

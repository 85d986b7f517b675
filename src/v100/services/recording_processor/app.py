"""Builds the recording_processor app."""

from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import DatabaseSpec, create_service_app
from v100.services.recording_processor.models import Base
from v100.services.recording_processor.settings import RecordingProcessorSettings as Settings

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or Settings(),
        title="V100 recording_processor",
        database=DATABASE,
        uses_storage=True,  # it will keep media objects; readiness checks the store
    )

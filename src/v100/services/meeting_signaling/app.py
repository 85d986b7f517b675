"""Builds the meeting_signaling app."""

from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import DatabaseSpec, ServiceSpec, create_service_app
from v100.services.meeting_signaling.models import Base
from v100.services.meeting_signaling.settings import MeetingSignalingSettings as Settings

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        ServiceSpec(
            settings or Settings(),
            title="V100 meeting_signaling",
            database=DATABASE,
        )
    )

"""Builds the publishing_worker app."""

from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import DatabaseSpec, ServiceSpec, create_service_app
from v100.services.publishing_worker.models import Base
from v100.services.publishing_worker.settings import PublishingWorkerSettings as Settings

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        ServiceSpec(
            settings or Settings(),
            title="V100 publishing_worker",
            database=DATABASE,
        )
    )

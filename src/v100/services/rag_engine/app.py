"""Builds the rag_engine app."""

from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import DatabaseSpec, ServiceSpec, create_service_app
from v100.services.rag_engine.models import Base
from v100.services.rag_engine.settings import RagEngineSettings as Settings

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        ServiceSpec(
            settings or Settings(),
            title="V100 rag_engine",
            database=DATABASE,
        )
    )

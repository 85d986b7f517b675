"""Builds the gateway app: its own identity endpoints, then authentication and the proxy to the
other services for every public prefix."""

from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import DatabaseSpec, create_service_app
from v100.services.gateway.models import Base
from v100.services.gateway.settings import GatewaySettings as Settings

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings,
        title="V100 gateway",
        database=DATABASE,
        internal_auth=False,  # the gateway authenticates users and API keys itself
    )

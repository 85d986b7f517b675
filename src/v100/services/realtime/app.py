"""Builds the realtime app: the room WebSocket (public: the meeting token in its first message
is the credential) and this replica's hub, on the in-process store embedded or on Redis
distributed."""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import (
    Access,
    Component,
    DatabaseSpec,
    Runtime,
    ServiceSpec,
    create_service_app,
)
from v100.kit.room_admission import admission_checks
from v100.services.realtime.api import ROOMS, realtime_router
from v100.services.realtime.hub import Hub
from v100.services.realtime.models import Base
from v100.services.realtime.settings import RealtimeSettings as Settings
from v100.services.realtime.store import Store
from v100.services.realtime.store_memory import MemoryStore
from v100.services.realtime.store_redis import RedisStore

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def _store(settings: Settings) -> Store:
    redis_url = settings.platform.redis_url
    if redis_url is None:
        return MemoryStore(settings.log_size)
    return RedisStore(redis_url, settings.log_size)


def _hub(settings: Settings) -> Component:
    @contextlib.asynccontextmanager
    async def component(runtime: Runtime) -> AsyncIterator[None]:
        async with admission_checks(settings) as checks:
            runtime.provide(checks.tokens)
            hub = Hub(settings, runtime.bus, _store(settings), checks.standings)
            async with hub.running():
                runtime.provide(hub)
                yield

    return component


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(
        ServiceSpec(
            settings,
            title="V100 realtime",
            description="Live room state and presence of meetings, pushed over WebSocket in "
            "order and resumable from a sequence number.",
            routers=[realtime_router],
            database=DATABASE,
            access=Access(public_prefixes=[ROOMS]),
            components=[_hub(settings)],
        )
    )
    # Many sockets of small JSON messages: no permessage-deflate (about 50 KB a socket).
    app.state.websocket_compression = False
    return app

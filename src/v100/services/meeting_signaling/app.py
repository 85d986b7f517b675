"""Builds the meeting_signaling app: the signaling WebSocket (public: the meeting token in its
first message is the credential) and this replica's switchboard, on the in-process directory
embedded or on Redis distributed."""

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
from v100.services.meeting_signaling.api import ROOMS, signaling_router
from v100.services.meeting_signaling.directory import Directory
from v100.services.meeting_signaling.directory_memory import MemoryDirectory
from v100.services.meeting_signaling.directory_redis import RedisDirectory
from v100.services.meeting_signaling.models import Base
from v100.services.meeting_signaling.settings import MeetingSignalingSettings as Settings
from v100.services.meeting_signaling.sfu import SfuRelay
from v100.services.meeting_signaling.switchboard import Switchboard

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def _directory(settings: Settings) -> Directory:
    redis_url = settings.platform.redis_url
    if redis_url is None:
        return MemoryDirectory(settings.outbox_size)
    # A replica's heartbeat outlives the grace window, so a stopped replica's sessions are
    # seen to have gone before its beat disappears.
    beat_ttl = int(settings.grace_seconds) + 60
    return RedisDirectory(redis_url, settings.outbox_size, beat_ttl)


def _switchboard(settings: Settings) -> Component:
    @contextlib.asynccontextmanager
    async def component(runtime: Runtime) -> AsyncIterator[None]:
        async with admission_checks(settings) as checks:
            runtime.provide(checks.tokens)
            switchboard = Switchboard(settings, runtime.bus, _directory(settings), checks.standings)
            async with switchboard.running():
                runtime.provide(switchboard)
                async with SfuRelay(settings.platform, switchboard).running(runtime.bus) as relay:
                    runtime.provide(relay)
                    yield

    return component


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(
        ServiceSpec(
            settings,
            title="V100 meeting_signaling",
            description="WebRTC signaling rooms: offer/answer and trickle ICE relayed between "
            "the peers of a meeting, resumable after a dropped socket.",
            routers=[signaling_router],
            database=DATABASE,
            access=Access(public_prefixes=[ROOMS]),
            components=[_switchboard(settings)],
        )
    )
    # Thousands of sockets of small JSON messages: no permessage-deflate (its two zlib streams
    # would be about 50 KB a socket; docs/meeting-signaling.md, "Figures").
    app.state.websocket_compression = False
    return app

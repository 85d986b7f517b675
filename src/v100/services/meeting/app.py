"""Builds the meeting app: the tenant's meetings API (``/v1/meetings``) and the participants'
room routes (``/v1/meetings/{id}/room/...``), which carry a meeting token instead of an
internal token (docs/adr/0051). A recording's media lives in recording_processor, reached with
its client (docs/adr/0057)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from v100.contracts.meeting_tokens import MeetingTokens
from v100.contracts.recordings import connect_recordings
from v100.kit.http import Access, DatabaseSpec, Runtime, ServiceSpec, create_service_app
from v100.services.meeting.api import PREFIX, meetings_router
from v100.services.meeting.internal_api import internal_router
from v100.services.meeting.media import room_media
from v100.services.meeting.meeting_page import PAGE_PREFIX, page_router
from v100.services.meeting.models import Base
from v100.services.meeting.participant_api import room_router
from v100.services.meeting.settings import MeetingSettings as Settings

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def meeting_tokens(runtime: Runtime) -> AsyncIterator[None]:
        runtime.provide(MeetingTokens(settings.platform.resolved_internal_token_secret))
        async with room_media(settings) as media:
            runtime.provide(media)
            yield

    @contextlib.asynccontextmanager
    async def recording_media(runtime: Runtime) -> AsyncIterator[None]:
        client = connect_recordings(settings.recording_processor_url, settings.platform)
        runtime.provide(client)
        try:
            yield
        finally:
            await client.aclose()

    return create_service_app(
        ServiceSpec(
            settings,
            title="V100 meeting",
            description="Meetings, meeting tokens, participants, waiting and breakout rooms, "
            "recording lifecycle.",
            routers=[meetings_router, room_router, internal_router, page_router],
            database=DATABASE,
            # A meeting token is not an internal token: under the prefix, a request whose
            # bearer is not one reaches the route without a principal, and the room routes
            # check it as a meeting token (tenant routes answer 401 for want of a principal).
            # The meeting page is static: its credential stays in the URL's fragment (ADR 0056).
            access=Access(own_token_prefixes=[f"{PREFIX}/"], public_prefixes=[PAGE_PREFIX]),
            components=[meeting_tokens, recording_media],
        )
    )

"""Automatic transcripts of a tenant's videos: transcription reads video_processing's ``video``
stream in a consumer group of its own (one replica takes each event, at least once) and, for
each ``video.ready`` of a tenant whose settings ask for it (``auto_transcribe_videos``), creates
the video's automatic transcript with the tenant's language and backend, then its job runs as
any transcript's. One per video: a redelivered event finds the transcript made (and the
partial unique index on tenant and video refuses a second). A tenant who has not asked gets
nothing. The group starts at the events published once it exists: videos that became ready
before transcription first ran are not transcribed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.contracts.events import VIDEO_READY, VIDEO_STREAM, VideoEventData
from v100.kit.bus import Bus, Message
from v100.kit.db import new_id, unit_of_work
from v100.kit.errors import BackendUnavailable
from v100.kit.http import Runtime
from v100.kit.observability import get_logger
from v100.kit.storage import ObjectStore
from v100.services.transcription.repository import TenantSettingsRepository
from v100.services.transcription.service import TranscriptService
from v100.services.transcription.settings import TranscriptionSettings

__all__ = ["GROUP", "AutoTranscripts", "automatic_transcripts"]

_log = get_logger("v100.transcription.auto")
GROUP = "transcription.automatic-transcripts"


class AutoTranscripts:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        storage: ObjectStore,
        settings: TranscriptionSettings,
        bus: Bus,
    ) -> None:
        self.service = TranscriptService(sessions, storage, settings)
        self.bus = bus
        # One name per process: a dead one's unacknowledged events go to the others.
        self.consumer = f"transcription-{new_id()}"
        self.joined = asyncio.Event()

    async def handle(self, message: Message) -> None:
        """One event; raising leaves it pending, to come back (the handling is idempotent)."""
        event = message.event
        if event.type != VIDEO_READY or event.tenant_id is None:
            return
        try:
            video = VideoEventData.model_validate(event.data)
        except ValidationError as exc:
            _log.error("unreadable video.ready dropped", event_id=event.id, error=str(exc))
            return
        async with unit_of_work(self.service.sessions) as session:
            settings = await TenantSettingsRepository(session).of_tenant(event.tenant_id)
            if settings is None or not settings.auto_transcribe_videos:
                return
            made = await self.service.create_automatic(session, event.tenant_id, video.id, settings)
        if made is not None:
            _log.info("automatic transcript", transcript_id=made.id, video_id=video.id)

    async def ready(self) -> None:
        if not self.joined.is_set():
            raise BackendUnavailable("not reading the video events yet")

    async def run(self) -> None:
        """Join the group (retrying while the bus is away), then consume until cancelled."""
        delay = 0.2
        while True:
            try:
                await self.bus.ensure_group(VIDEO_STREAM, GROUP, from_start=False)
                break
            except BackendUnavailable as exc:
                _log.warning("cannot join the video events yet", error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.joined.set()
        await self.bus.consume(VIDEO_STREAM, GROUP, self.consumer, self.handle)


def automatic_transcripts(
    settings: TranscriptionSettings,
) -> Callable[[Runtime], contextlib.AbstractAsyncContextManager[None]]:
    """The app's component: the consumer runs (once migrations ran) while the app does, and
    the app is ready once it has joined the group."""

    @contextlib.asynccontextmanager
    async def component(runtime: Runtime) -> AsyncIterator[None]:
        assert runtime.sessions is not None
        assert runtime.storage is not None
        auto = AutoTranscripts(runtime.sessions, runtime.storage, settings, runtime.bus)
        runtime.provide(auto)
        runtime.checks["video-events"] = auto.ready

        async def after_migrations() -> None:
            await runtime.migrated.wait()
            await auto.run()

        task = asyncio.create_task(after_migrations(), name="automatic transcripts")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.wait([task], timeout=10)

    return component

"""Live sessions' domain: making one (its backend chosen and checked, the tenant's open sessions
bounded), reading and listing them, stopping one (at once when it never connected; else by
asking its stream, wherever it runs, through the bus and the row), and claiming one for its
WebSocket: a session streams once. No HTTP objects in here."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.bus import Bus
from v100.kit.db import Page, new_id, session_hooks, unit_of_work, utcnow
from v100.services.transcription.errors import (
    SessionNotFound,
    SessionNotStreamable,
    TooManySessions,
)
from v100.services.transcription.live_backends import live_backend_for
from v100.services.transcription.live_repository import SessionRepository
from v100.services.transcription.live_schemas import SessionCreate, SessionOptions
from v100.services.transcription.models import LiveSession, SessionStatus
from v100.services.transcription.settings import TranscriptionSettings

__all__ = ["LiveSessionService", "stop_channel"]

UNSETTLED = (SessionStatus.CREATED, SessionStatus.STREAMING)


def stop_channel(session_id: str) -> str:
    """The pub/sub channel a session's stream listens on for a stop asked over REST."""
    return f"transcription:session:{session_id}:stop"


class LiveSessionService:
    """One instance per request or stream: the settings, the database's sessions and the bus
    stops are told on."""

    def __init__(
        self,
        settings: TranscriptionSettings,
        sessions: async_sessionmaker[AsyncSession],
        bus: Bus,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.bus = bus

    def options(self, body: SessionCreate) -> SessionOptions:
        linear16 = body.encoding == "linear16"
        return SessionOptions(
            language=None if body.language in (None, "auto") else body.language,
            encoding=body.encoding,
            sample_rate=(body.sample_rate or 16_000) if linear16 else None,
            channels=(body.channels or 1) if linear16 else None,
            interim_results=body.interim_results,
            endpointing=body.endpointing,
            utterance_end_ms=body.utterance_end_ms,
            vad_events=body.vad_events,
            idle_timeout=min(
                body.idle_timeout or self.settings.live_idle_timeout,
                self.settings.live_max_idle_timeout,
            ),
        )

    async def create(
        self, session: AsyncSession, tenant_id: str, body: SessionCreate
    ) -> LiveSession:
        backend = live_backend_for(self.settings, tenant_id, body.backend)
        repository = SessionRepository(session)
        limit = self.settings.live_max_sessions_per_tenant
        waiting_since = utcnow() - timedelta(seconds=self.settings.live_connect_within)
        if await repository.open_count(tenant_id, created_since=waiting_since) >= limit:
            raise TooManySessions(
                f"A tenant has at most {limit} live sessions open at once: stop one, or let "
                "one end.", retry_after=5,
            )  # fmt: skip
        row = LiveSession(
            id=new_id(), tenant_id=tenant_id, status=SessionStatus.CREATED, backend=backend,
            options=self.options(body).model_dump(mode="json"),
        )  # fmt: skip
        return await repository.add(row)

    async def get(self, session: AsyncSession, tenant_id: str, session_id: str) -> LiveSession:
        row = await SessionRepository(session).get(tenant_id, session_id)
        if row is None:
            raise SessionNotFound(f"Transcription session {session_id} does not exist.")
        return row

    async def page(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[LiveSession]:
        return await SessionRepository(session).page(
            tenant_id, status=status, limit=limit, cursor=cursor
        )

    async def stop(self, session: AsyncSession, tenant_id: str, session_id: str) -> LiveSession:
        """A session never connected closes now; a streaming one is asked to stop (its stream
        flushes its last results and closes 1000); an ended one stays as it is."""
        row = await self.get(session, tenant_id, session_id)
        repository = SessionRepository(session)
        now = utcnow()
        if row.status == SessionStatus.CREATED:
            closed = await repository.change(
                row.id, expect_status=SessionStatus.CREATED, status=SessionStatus.CLOSED,
                end_reason="stopped", end_detail="Stopped before it streamed.", ended_at=now,
            )  # fmt: skip
            if closed is not None:
                return closed
            row = await self.get(session, tenant_id, session_id)  # it connected meanwhile
        if row.status == SessionStatus.STREAMING:
            asked = await repository.change(
                row.id, expect_status=SessionStatus.STREAMING, stop_requested_at=now
            )
            if asked is not None:
                bus, channel = self.bus, stop_channel(row.id)
                session_hooks(session).after_commit(lambda: bus.publish_ephemeral(channel, "stop"))
                return asked
        return row

    async def stop_and_wait(self, tenant_id: str, session_id: str) -> LiveSession:
        """``stop``, committed; then, for a streaming session, wait (``live_stop_wait_seconds``
        at most) for its stream to flush, close and settle. The session as it is then."""
        async with unit_of_work(self.sessions) as session:
            row = await self.stop(session, tenant_id, session_id)
        deadline = asyncio.get_running_loop().time() + self.settings.live_stop_wait_seconds
        while row.status == SessionStatus.STREAMING:
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.1)
            async with unit_of_work(self.sessions) as session:
                row = await self.get(session, tenant_id, session_id)
        return row

    async def claim(self, session: AsyncSession, tenant_id: str, session_id: str) -> LiveSession:
        """created -> streaming for its WebSocket: ``SessionNotFound``, or
        ``SessionNotStreamable`` when it streamed already, ended, or waited too long."""
        repository = SessionRepository(session)
        row = await repository.get(tenant_id, session_id)
        if row is None:
            raise SessionNotFound(f"Transcription session {session_id} does not exist.")
        waited = (utcnow() - row.created_at).total_seconds()
        if row.status == SessionStatus.CREATED and waited > self.settings.live_connect_within:
            raise SessionNotStreamable(
                f"This session waited {waited:.0f} s for its WebSocket; sessions must connect "
                f"within {self.settings.live_connect_within:.0f} s. Make another."
            )
        now = utcnow()
        claimed = await repository.change(
            row.id, expect_status=SessionStatus.CREATED, tenant_id=tenant_id,
            status=SessionStatus.STREAMING, started_at=now, heartbeat_at=now,
        )  # fmt: skip
        if claimed is None:
            raise SessionNotStreamable(
                f"This session is {row.status}: a session streams once. Make another."
            )
        return claimed

"""The tenant's event stream, read from the messages table (every event recorded by the intake):
``poll`` after a cursor (a message id), ``history`` over a time range, consumer ``groups`` whose
reads hide each event for a visibility timeout until it is acknowledged, and ``follow`` for the
live subscribers (SSE, WebSocket), which poll after their cursor and wake when the intake
records something. Type filters take the patterns endpoints take (``video.*``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import new_id, unit_of_work
from v100.services.integration.clock import Clock
from v100.services.integration.errors import GroupExists, GroupNotFound
from v100.services.integration.models import Message, StreamGroup, StreamLease
from v100.services.integration.repository import insert_new
from v100.services.integration.settings import IntegrationSettings

__all__ = ["GroupNotFound", "GroupRead", "StreamService", "StreamSignal", "type_filter"]


def type_filter(patterns: Sequence[str]) -> list[ColumnElement[bool]]:
    if not patterns or "*" in patterns:
        return []
    exact = [p for p in patterns if not p.endswith(".*")]
    prefixes = [p[:-1] for p in patterns if p.endswith(".*")]
    clauses: list[ColumnElement[bool]] = []
    if exact:
        clauses.append(Message.event_type.in_(exact))
    clauses += [Message.event_type.startswith(prefix, autoescape=True) for prefix in prefixes]
    return [or_(*clauses)]


class StreamSignal:
    """Wakes every live subscriber of this process when the intake recorded events."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.subscribers = 0

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, within: float) -> None:
        event = self._event
        try:
            async with asyncio.timeout(within):
                await event.wait()
        except TimeoutError:
            pass


@dataclass(frozen=True, slots=True)
class GroupRead:
    message: Message
    deliveries: int


class StreamService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: IntegrationSettings,
        clock: Clock,
        signal: StreamSignal,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.signal = signal

    def _settled(self) -> datetime:
        return self.clock.now() - timedelta(seconds=self.settings.stream_settle_seconds)

    async def poll(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        after: str | None,
        patterns: Sequence[str],
        limit: int,
    ) -> list[Message]:
        """Up to ``limit`` events after the cursor, oldest first."""
        statement = select(Message).where(
            Message.tenant_id == tenant_id,
            Message.created_at <= self._settled(),
            *type_filter(patterns),
        )
        if after is not None:
            statement = statement.where(Message.id > after)
        statement = statement.order_by(Message.id).limit(limit)
        return list((await session.execute(statement)).scalars().all())

    async def follow(
        self, tenant_id: str, *, after: str | None, patterns: Sequence[str]
    ) -> AsyncGenerator[Message | None, None]:
        """Events after the cursor as they come, forever; None when nothing came for a while
        (a subscriber sends its heartbeat then)."""
        self.signal.subscribers += 1
        try:
            quiet = 0.0
            while True:
                async with unit_of_work(self.sessions) as session:
                    batch = await self.poll(
                        session, tenant_id, after=after, patterns=patterns, limit=100
                    )
                for message in batch:
                    after = message.id
                    yield message
                if batch:
                    quiet = 0.0
                    continue
                wait = self.settings.stream_poll_seconds
                await self.signal.wait(wait)
                # Settled events appear a moment after the intake's signal.
                await asyncio.sleep(min(self.settings.stream_settle_seconds, wait))
                quiet += wait
                if quiet >= self.settings.stream_heartbeat_seconds:
                    quiet = 0.0
                    yield None
        finally:
            self.signal.subscribers -= 1

    # -- consumer groups ---------------------------------------------------------------------

    async def create_group(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        name: str,
        patterns: list[str],
        start: str,
    ) -> StreamGroup:
        position = None
        if start == "latest":
            latest = select(Message.id).where(Message.tenant_id == tenant_id)
            position = (
                await session.execute(latest.order_by(Message.id.desc()).limit(1))
            ).scalar_one_or_none()
        values = {
            "id": new_id(),
            "tenant_id": tenant_id,
            "name": name,
            "event_types": patterns,
            "position": position,
            "created_at": self.clock.now(),
        }
        if not await insert_new(session, StreamGroup, values, ("tenant_id", "name")):
            raise GroupExists(f"A consumer group named {name!r} exists.")
        return await self.group(session, tenant_id, str(values["id"]))

    async def group(self, session: AsyncSession, tenant_id: str, group_id: str) -> StreamGroup:
        statement = select(StreamGroup).where(
            StreamGroup.tenant_id == tenant_id, StreamGroup.id == group_id
        )
        group = (await session.execute(statement)).scalar_one_or_none()
        if group is None:
            raise GroupNotFound(f"Consumer group {group_id} does not exist.")
        return group

    async def groups(self, session: AsyncSession, tenant_id: str) -> list[StreamGroup]:
        statement = select(StreamGroup).where(StreamGroup.tenant_id == tenant_id)
        return list((await session.execute(statement.order_by(StreamGroup.id))).scalars())

    async def delete_group(self, session: AsyncSession, tenant_id: str, group_id: str) -> None:
        group = await self.group(session, tenant_id, group_id)
        await session.execute(delete(StreamLease).where(StreamLease.group_id == group.id))
        await session.delete(group)

    async def read_group(
        self,
        session: AsyncSession,
        tenant_id: str,
        group_id: str,
        *,
        limit: int,
        visibility_timeout: int | None,
    ) -> list[GroupRead]:
        """Events for one read of the group: first those whose visibility timeout passed
        unacknowledged, then new ones; each hidden from other reads until ``visible_at``."""
        group = await self.group(session, tenant_id, group_id)
        now = self.clock.now()
        seconds = visibility_timeout or self.settings.stream_visibility_timeout_seconds
        hidden_until = now + timedelta(seconds=seconds)
        reads: list[GroupRead] = []
        expired = await session.execute(
            select(StreamLease.id, StreamLease.message_id)
            .where(StreamLease.group_id == group.id, StreamLease.visible_at <= now)
            .order_by(StreamLease.message_id)
            .limit(limit)
        )
        for lease_id, message_id in expired.all():
            won = await session.execute(
                update(StreamLease)
                .where(StreamLease.id == lease_id, StreamLease.visible_at <= now)
                .values(visible_at=hidden_until, deliveries=StreamLease.deliveries + 1)
                .returning(StreamLease.deliveries)
            )
            count = won.scalar_one_or_none()
            message = await session.get(Message, message_id)
            if count is not None and message is not None:
                reads.append(GroupRead(message, count))
        if len(reads) < limit:
            fresh = await self.poll(
                session, tenant_id, after=group.position, patterns=group.event_types,
                limit=limit - len(reads),
            )  # fmt: skip
            if fresh:
                moved = await session.execute(
                    update(StreamGroup)
                    .where(StreamGroup.id == group.id, _position_is(group.position))
                    .values(position=fresh[-1].id)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount:  # type: ignore[attr-defined]  # another read took them
                    for message in fresh:
                        session.add(
                            StreamLease(id=new_id(), tenant_id=tenant_id, group_id=group.id,
                                        message_id=message.id, visible_at=hidden_until)
                        )  # fmt: skip
                        reads.append(GroupRead(message, 1))
        return reads

    async def ack(
        self, session: AsyncSession, tenant_id: str, group_id: str, message_ids: Sequence[str]
    ) -> int:
        group = await self.group(session, tenant_id, group_id)
        result = await session.execute(
            delete(StreamLease).where(
                StreamLease.group_id == group.id, StreamLease.message_id.in_(message_ids)
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def _position_is(position: str | None) -> ColumnElement[bool]:
    if position is None:
        return StreamGroup.position.is_(None)
    return StreamGroup.position == position

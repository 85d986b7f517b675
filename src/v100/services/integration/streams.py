"""The tenant's event stream, read from the messages table (every event recorded by the intake):
``poll`` after a cursor (a message id), ``history`` over a time range, consumer ``groups`` whose
reads hide each event for a visibility timeout until it is acknowledged, and ``follow`` for the
live subscribers (SSE, WebSocket), which catch up from their cursor and then take what the
process's ``StreamHub`` hands out. Type filters take the patterns endpoints take (``video.*``)."""

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
from v100.services.integration.stream_hub import StreamHub

__all__ = ["GroupNotFound", "GroupRead", "StreamService", "type_filter"]


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
        hub: StreamHub,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.hub = hub

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
        up_to: str | None = None,
    ) -> list[Message]:
        """Up to ``limit`` events after the cursor (and at most ``up_to``), oldest first."""
        statement = select(Message).where(
            Message.tenant_id == tenant_id,
            Message.created_at <= self._settled(),
            *type_filter(patterns),
        )
        if after is not None:
            statement = statement.where(Message.id > after)
        if up_to is not None:
            statement = statement.where(Message.id <= up_to)
        statement = statement.order_by(Message.id).limit(limit)
        return list((await session.execute(statement)).scalars().all())

    async def follow(
        self, tenant_id: str, *, after: str | None, patterns: Sequence[str]
    ) -> AsyncGenerator[Message | None, None]:
        """Events after the cursor as they come, forever: first those in the database, then
        what the hub hands out (with no cursor, only the latter: events from now on); None
        when nothing came for ``stream_heartbeat_seconds`` (a subscriber sends its heartbeat
        then)."""
        while True:
            subscription = self.hub.subscribe(tenant_id, patterns)
            try:
                start = await self.hub.start_of(subscription)
                # No cursor: events from now on (the past is at /history and by poll).
                after = start if after is None else after
                while after < start:
                    async with self.hub.catching_up, unit_of_work(self.sessions) as session:
                        batch = await self.poll(
                            session, tenant_id, after=after, patterns=patterns, limit=100,
                            up_to=start,
                        )  # fmt: skip
                    for message in batch:
                        after = message.id
                        yield message
                    if len(batch) < 100:
                        break
                while not subscription.behind:
                    try:
                        async with asyncio.timeout(self.settings.stream_heartbeat_seconds):
                            message = await subscription.queue.get()
                    except TimeoutError:
                        yield None
                        continue
                    if message.id > after:
                        after = message.id
                        yield message
            finally:
                self.hub.unsubscribe(subscription)
            # Too far behind: what the queue lost is read from the database again.

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

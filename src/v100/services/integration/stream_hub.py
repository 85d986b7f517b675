"""The live end of the event stream: one reader of the messages table per process, however many
subscribers (SSE, WebSocket) it holds. The reader looks for settled messages after the last one
it handed out, when the intake recorded something here and every ``stream_poll_seconds`` in
any case (another replica's events), and puts each into the queue of every subscriber of its
tenant whose type filter it matches. A subscriber reads the database only to catch up from its
cursor when it joins, and again if it falls so far behind that its queue overflows.

So a thousand idle subscribers cost one query a second, not a thousand, and an event reaches
all of them in one pass (bench/event_stream_subscribers.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import unit_of_work
from v100.kit.observability import get_logger
from v100.services.integration.clock import Clock
from v100.services.integration.filters import matches
from v100.services.integration.models import Message
from v100.services.integration.settings import IntegrationSettings

__all__ = ["StreamHub", "Subscription"]

_log = get_logger("v100.integration.stream_hub")
# Messages read per query.
_READ = 500
# Subscribers catching up from the database at once, at most: a crowd that joins together
# queues here rather than for the pool's connections (which would time out).
_CATCHING_UP = 4


@dataclass(eq=False)
class Subscription:
    tenant_id: str
    patterns: Sequence[str]
    joined_at: datetime
    buffer: int
    queue: asyncio.Queue[Message] = field(init=False)
    # Set when the queue overflowed: what it lost is in the database, read from the cursor.
    behind: bool = False

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.buffer)

    def offer(self, message: Message) -> None:
        if self.behind:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.behind = True


class StreamHub:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: IntegrationSettings,
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._count = 0
        # The last message handed out (None: to be read afresh once someone subscribes).
        self._position: str | None = None
        self._positioned = asyncio.Event()
        self._woken = asyncio.Event()
        self.catching_up = asyncio.Semaphore(_CATCHING_UP)

    @property
    def subscribers(self) -> int:
        return self._count

    def notify(self) -> None:
        """The intake recorded events."""
        self._woken.set()

    def subscribe(self, tenant_id: str, patterns: Sequence[str]) -> Subscription:
        subscription = Subscription(
            tenant_id, list(patterns), self.clock.now(), self.settings.stream_subscriber_buffer
        )
        self._subscribers[tenant_id].add(subscription)
        self._count += 1
        self._woken.set()
        return subscription

    async def start_of(self, subscription: Subscription) -> str:
        """Where the hub stood once ``subscription`` was in: every message after it reaches
        the subscription's queue, every one up to it is in the database, settled."""
        assert subscription in self._subscribers.get(subscription.tenant_id, ())
        await self._positioned.wait()
        assert self._position is not None
        return self._position

    def unsubscribe(self, subscription: Subscription) -> None:
        tenant = self._subscribers.get(subscription.tenant_id)
        if tenant is None or subscription not in tenant:
            return
        tenant.discard(subscription)
        self._count -= 1
        if not tenant:
            del self._subscribers[subscription.tenant_id]

    async def run(self) -> None:
        """Hand out new messages until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.stream_poll_seconds):
                    await self._woken.wait()
            self._woken.clear()
            if not self._count:
                self._position = None
                self._positioned.clear()
                continue
            # Events recorded now are served once settled.
            await asyncio.sleep(self.settings.stream_settle_seconds)
            try:
                await self.hand_out()
            except Exception as exc:  # the database may answer next time
                _log.warning("event stream read failed", error=repr(exc))

    async def hand_out(self) -> None:
        settled = self.clock.now() - timedelta(seconds=self.settings.stream_settle_seconds)
        async with unit_of_work(self.sessions) as session:
            if self._position is None:
                # Start at the newest message recorded before anyone subscribed: what came
                # later is handed out (even to those with no cursor), what came before is
                # theirs to catch up from the database.
                joined = min(s.joined_at for t in self._subscribers.values() for s in t)
                since = min(
                    settled, joined - timedelta(seconds=self.settings.stream_settle_seconds)
                )
                latest = select(func.max(Message.id)).where(Message.created_at <= since)
                self._position = (await session.execute(latest)).scalar_one_or_none() or ""
                self._positioned.set()
                return
            while True:
                statement = (
                    select(Message)
                    .where(Message.id > self._position, Message.created_at <= settled)
                    .order_by(Message.id)
                    .limit(_READ)
                )
                batch = list((await session.execute(statement)).scalars().all())
                for message in batch:
                    for subscription in self._subscribers.get(message.tenant_id, ()):
                        if matches(subscription.patterns, message.event_type):
                            subscription.offer(message)
                if batch:
                    self._position = batch[-1].id
                if len(batch) < _READ:
                    return

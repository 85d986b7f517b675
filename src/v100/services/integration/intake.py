"""Reading the platform's durable streams: one consumer per stream in the integration group
(at-least-once; the message row's unique event id makes a redelivery a no-op). Events are read
in batches and a batch is recorded, with its deliveries, in one transaction, then acknowledged
and the dispatcher woken; a batch that fails is recorded again one event at a time, so one bad
event stays pending (and comes back) without holding up the others."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.contracts.events import TENANT_EVENT_STREAMS
from v100.kit.bus import Bus, Message
from v100.kit.db import new_id, not_interrupted, unit_of_work, writers_turn
from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger
from v100.services.integration.clock import Clock
from v100.services.integration.fanout import record_events

__all__ = ["Intake"]

_log = get_logger("v100.integration.intake")
# Events recorded per transaction at most.
_BATCH = 200


class Intake:
    def __init__(
        self,
        bus: Bus,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        group: str,
        from_start: bool,
        on_recorded: Callable[[], None],
        streams: tuple[str, ...] = TENANT_EVENT_STREAMS,
    ) -> None:
        self.bus = bus
        self.sessions = sessions
        self.clock = clock
        self.group = group
        self.from_start = from_start
        self.on_recorded = on_recorded
        self.streams = streams
        # One name per process: a dead one's unacknowledged events go to the others.
        self.consumer = f"integration-{new_id()}"
        self.joined = asyncio.Event()
        self.recorded = 0

    async def handle(self, message: Message) -> None:
        await self.record([message])

    async def record(self, messages: list[Message]) -> None:
        """Record ``messages`` in one transaction."""
        async with writers_turn(self.sessions), unit_of_work(self.sessions) as session:
            recorded = await record_events(
                session, [message.event for message in messages], self.clock.now()
            )
        self.recorded += len(recorded)
        if recorded:
            self.on_recorded()

    async def _consume(self, stream: str) -> None:
        backoff = 0.05
        while True:
            try:
                batch = await self.bus.read(
                    stream, self.group, self.consumer, count=_BATCH, block_ms=1000
                )
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # a cancel the client swallowed
                    raise asyncio.CancelledError
            except BackendUnavailable as exc:
                _log.warning("event stream read failed", stream=stream, error=str(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.05
            if not batch:
                continue
            done = [message.id for message in batch]
            try:
                await not_interrupted(self.record(batch))
            except Exception:
                done = []
                for message in batch:
                    try:
                        await self.record([message])
                    except Exception:
                        _log.exception(
                            "event not recorded; it comes back",
                            stream=stream,
                            event_type=message.event.type,
                            delivery_count=message.delivery_count,
                        )
                        continue
                    done.append(message.id)
            try:
                await self.bus.ack(stream, self.group, *done)
            except BackendUnavailable as exc:  # recorded; a redelivery is a no-op
                _log.warning("event ack failed", stream=stream, error=str(exc))

    async def ready(self) -> None:
        if not self.joined.is_set():
            raise BackendUnavailable("not reading the event streams yet")

    async def run(self) -> None:
        """Join each stream's group (retrying while the bus is away), then consume them all
        until cancelled."""
        delay = 0.2
        while True:
            try:
                for stream in self.streams:
                    await self.bus.ensure_group(stream, self.group, from_start=self.from_start)
                break
            except BackendUnavailable as exc:
                _log.warning("cannot join the event streams yet", error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.joined.set()
        consumers = [
            asyncio.create_task(self._consume(stream), name=f"integration intake {stream}")
            for stream in self.streams
        ]
        try:
            await asyncio.gather(*consumers)
        finally:
            for task in consumers:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*consumers, return_exceptions=True)

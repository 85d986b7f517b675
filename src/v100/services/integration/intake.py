"""Reading the platform's durable streams: one consumer per stream in the integration group
(at-least-once; the message row's unique event id makes a redelivery a no-op), each event
recorded with its deliveries in one transaction, then the dispatcher woken."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.contracts.events import TENANT_EVENT_STREAMS
from v100.kit.bus import Bus, Message
from v100.kit.db import new_id, unit_of_work
from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger
from v100.services.integration.clock import Clock
from v100.services.integration.fanout import record_event

__all__ = ["Intake"]

_log = get_logger("v100.integration.intake")


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
        async with unit_of_work(self.sessions) as session:
            recorded = await record_event(session, message.event, self.clock.now())
        if recorded is not None:
            self.recorded += 1
            if recorded[1]:
                self.on_recorded()

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
            asyncio.create_task(
                self.bus.consume(stream, self.group, self.consumer, self.handle, count=50),
                name=f"integration intake {stream}",
            )
            for stream in self.streams
        ]
        try:
            await asyncio.gather(*consumers)
        finally:
            for task in consumers:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*consumers, return_exceptions=True)

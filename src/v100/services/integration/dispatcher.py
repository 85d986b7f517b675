"""The delivery loop. Each pass finds the endpoints with due deliveries and claims, for each,
no more than its free share: ``endpoint_concurrency`` attempts in flight per endpoint, its rate
limit, and the process's ``delivery_concurrency`` in all. So a receiver that is slow, down or
10,000 messages behind holds only its own slots, and every other endpoint and tenant keeps
being served (no head-of-line blocking). Claims are leases in the database: a process killed
mid-attempt loses nothing, and the delivery is attempted again, with the same ``webhook-id``,
once the lease ends. Passes run when something is due (woken by new messages and finished
attempts) and every ``dispatch_poll_seconds`` in any case."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.bus import Bus
from v100.kit.db import new_id, not_interrupted, unit_of_work, writers_turn
from v100.kit.observability import get_logger
from v100.services.integration.clock import Clock
from v100.services.integration.delivery import (
    receiver_sender,
    secrets_in_force,
    send,
)
from v100.services.integration.delivery_queue import ClaimedDelivery, DeliveryQueue
from v100.services.integration.models import Endpoint
from v100.services.integration.outcomes import Outcomes
from v100.services.integration.settings import IntegrationSettings

__all__ = ["Dispatcher"]

_log = get_logger("v100.integration.dispatcher")
_DUE_ENDPOINTS_PER_PASS = 1000
# Between two passes at least this long, however often attempts finish.
_MIN_PASS_INTERVAL = 0.005


@dataclass(frozen=True, slots=True)
class _Target:
    """What an attempt needs of its endpoint, read when it was claimed."""

    url: str
    headers: dict[str, str]
    secrets: list[str]


@dataclass(slots=True)
class _Bucket:
    """A token bucket: ``rate`` deliveries per second, bursts up to ``rate``."""

    rate: float
    tokens: float
    at: float = field(default_factory=time.monotonic)

    def available(self) -> int:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return int(self.tokens)

    def take(self, count: int) -> None:
        self.tokens -= count


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: IntegrationSettings,
        clock: Clock,
        bus: Bus,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.bus = bus
        self.sender = receiver_sender(settings)
        self._in_flight: Counter[str] = Counter()
        self._attempts: set[asyncio.Task[None]] = set()
        self._buckets: dict[str, _Bucket] = {}
        self._woken = asyncio.Event()
        self._start = 0
        self.outcomes = Outcomes(sessions, settings, clock, bus, on_written=lambda _: self.wake())

    def wake(self) -> None:
        """Something may be due now (a new message, a finished attempt, a replay)."""
        self._woken.set()

    @property
    def in_flight(self) -> int:
        return len(self._attempts)

    def in_flight_to(self, endpoint_id: str) -> int:
        return self._in_flight[endpoint_id]

    async def run(self) -> None:
        """Dispatch until cancelled; attempts in flight are then cancelled too (their leases
        run out and another pass, here or in another process, attempts them again), and the
        outcomes already known are written."""
        writer = asyncio.create_task(self.outcomes.run(), name="webhook outcomes")
        try:
            while True:
                self._woken.clear()
                try:
                    await not_interrupted(self.dispatch_once())
                except Exception as exc:  # the database may be back next pass
                    _log.warning("dispatch pass failed", error=repr(exc))
                await self._idle()
        finally:
            for task in list(self._attempts):
                task.cancel()
            if self._attempts:
                await asyncio.wait(self._attempts, timeout=5)
            writer.cancel()
            await asyncio.wait([writer], timeout=10)
            await self.sender.aclose()

    async def _idle(self) -> None:
        await asyncio.sleep(_MIN_PASS_INTERVAL)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.dispatch_poll_seconds):
                await self._woken.wait()

    async def dispatch_once(self) -> int:
        """One pass, one transaction of a few statements: claim what is due, within every
        share; how many attempts it started."""
        free = self.settings.delivery_concurrency - len(self._attempts)
        if free <= 0:
            return 0
        now = self.clock.now()
        lease_until = now + timedelta(seconds=self.settings.delivery_lease_seconds)
        async with writers_turn(self.sessions), unit_of_work(self.sessions) as session:
            queue = DeliveryQueue(session)
            due = await queue.due_endpoints(now, _DUE_ENDPOINTS_PER_PASS)
            endpoints = await queue.endpoints(due) if due else {}
            serving = []
            for endpoint_id in due:
                endpoint = endpoints.get(endpoint_id)
                if endpoint is None or not endpoint.enabled:
                    await queue.fail_open(endpoint_id, now, "endpoint-disabled")
                else:
                    serving.append(endpoint)
            shares = {e.id: share for e in serving if (share := self._share(e)) > 0}
            if not shares:
                return 0
            ordered = [e.id for e in serving if e.ordered and e.id in shares]
            found = await queue.due_ranked(now, list(shares), ordered, max(shares.values()))
            # Start each pass at another endpoint, so the list's head has no standing advantage.
            self._start = (self._start + 1) % len(serving)
            taken: list[str] = []
            for endpoint in serving[self._start :] + serving[: self._start]:
                room = min(shares.get(endpoint.id, 0), free - len(taken))
                taken += found.get(endpoint.id, [])[:room]
            claimed = await queue.claim(taken, now, token=new_id(), lease_until=lease_until)
        by_endpoint: dict[str, list[ClaimedDelivery]] = {}
        for delivery in claimed:
            by_endpoint.setdefault(delivery.endpoint_id, []).append(delivery)
        for endpoint_id, deliveries in by_endpoint.items():
            self._start_attempts(endpoints[endpoint_id], deliveries, now)
        return len(claimed)

    def _share(self, endpoint: Endpoint) -> int:
        share = self.settings.endpoint_concurrency - self._in_flight[endpoint.id]
        if endpoint.rate_limit is not None:
            bucket = self._buckets.get(endpoint.id)
            if bucket is None or bucket.rate != endpoint.rate_limit:
                bucket = _Bucket(rate=endpoint.rate_limit, tokens=endpoint.rate_limit)
                self._buckets[endpoint.id] = bucket
            share = min(share, bucket.available())
        return share

    def _start_attempts(
        self, endpoint: Endpoint, claimed: list[ClaimedDelivery], now: datetime
    ) -> None:
        if endpoint.rate_limit is not None:
            self._buckets[endpoint.id].take(len(claimed))
        target = _Target(
            url=endpoint.url,
            headers=dict(endpoint.headers or {}),
            secrets=secrets_in_force(
                endpoint.secret,
                endpoint.previous_secret,
                endpoint.previous_secret_expires_at,
                now,
            ),
        )
        for delivery in claimed:
            self._in_flight[endpoint.id] += 1
            task = asyncio.create_task(self._attempt(delivery, target))
            self._attempts.add(task)
            task.add_done_callback(self._attempts.discard)

    async def _attempt(self, delivery: ClaimedDelivery, target: _Target) -> None:
        try:
            result = await send(
                self.sender,
                url=target.url,
                message_id=delivery.message_id,
                payload=delivery.payload,
                secrets=target.secrets,
                custom_headers=target.headers,
                now=self.clock.now(),
                excerpt_bytes=self.settings.response_excerpt_bytes,
            )
        except Exception as exc:  # the lease runs out and the delivery is attempted again
            _log.warning("delivery attempt failed to run", delivery_id=delivery.id, error=repr(exc))
        else:
            self.outcomes.add(delivery, result)
        finally:
            self._in_flight[delivery.endpoint_id] -= 1
            if self._in_flight[delivery.endpoint_id] <= 0:
                del self._in_flight[delivery.endpoint_id]
            self.wake()

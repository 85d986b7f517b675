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
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.bus import Bus
from v100.kit.db import new_id, unit_of_work
from v100.kit.observability import get_logger
from v100.services.integration.clock import Clock
from v100.services.integration.delivery import (
    AttemptResult,
    ReceiverClients,
    receiver_policy,
    secrets_in_force,
    send,
)
from v100.services.integration.delivery_queue import ClaimedDelivery, DeliveryQueue
from v100.services.integration.health import record_failure, record_success
from v100.services.integration.models import Attempt, Endpoint
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
        self.clients = ReceiverClients(settings)
        self.policy = receiver_policy(settings)
        self._in_flight: Counter[str] = Counter()
        self._attempts: set[asyncio.Task[None]] = set()
        self._buckets: dict[str, _Bucket] = {}
        self._woken = asyncio.Event()
        self._start = 0

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
        run out and another pass, here or in another process, attempts them again)."""
        try:
            while True:
                self._woken.clear()
                try:
                    await self.dispatch_once()
                except Exception as exc:  # the database may be back next pass
                    _log.warning("dispatch pass failed", error=repr(exc))
                await self._idle()
        finally:
            for task in list(self._attempts):
                task.cancel()
            if self._attempts:
                await asyncio.wait(self._attempts, timeout=5)
            await self.clients.aclose()

    async def _idle(self) -> None:
        await asyncio.sleep(_MIN_PASS_INTERVAL)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.dispatch_poll_seconds):
                await self._woken.wait()

    async def dispatch_once(self) -> int:
        """One pass: claim what is due, within every share; how many attempts it started."""
        free = self.settings.delivery_concurrency - len(self._attempts)
        if free <= 0:
            return 0
        now = self.clock.now()
        async with unit_of_work(self.sessions) as session:
            queue = DeliveryQueue(session)
            due = await queue.due_endpoints(now, _DUE_ENDPOINTS_PER_PASS)
            endpoints = await queue.endpoints(due) if due else {}
            for endpoint_id in due:
                endpoint = endpoints.get(endpoint_id)
                if endpoint is None or not endpoint.enabled:
                    await queue.fail_open(endpoint_id, now, "endpoint-disabled")
        if not due:
            return 0
        # Start each pass at another endpoint, so the list's head has no standing advantage.
        self._start = (self._start + 1) % len(due)
        started = 0
        for endpoint_id in due[self._start :] + due[: self._start]:
            endpoint = endpoints.get(endpoint_id)
            if endpoint is None or not endpoint.enabled:
                continue
            count = min(free - started, self._share(endpoint))
            if count <= 0:
                continue
            started += await self._claim_and_start(endpoint, now, count)
            if started >= free:
                break
        return started

    def _share(self, endpoint: Endpoint) -> int:
        share = self.settings.endpoint_concurrency - self._in_flight[endpoint.id]
        if endpoint.rate_limit is not None:
            bucket = self._buckets.get(endpoint.id)
            if bucket is None or bucket.rate != endpoint.rate_limit:
                bucket = _Bucket(rate=endpoint.rate_limit, tokens=endpoint.rate_limit)
                self._buckets[endpoint.id] = bucket
            share = min(share, bucket.available())
        return share

    async def _claim_and_start(self, endpoint: Endpoint, now: datetime, count: int) -> int:
        lease_until = now + timedelta(seconds=self.settings.delivery_lease_seconds)
        async with unit_of_work(self.sessions) as session:
            claimed = await DeliveryQueue(session).claim(
                endpoint.id,
                now,
                count,
                ordered=endpoint.ordered,
                token=new_id(),
                lease_until=lease_until,
            )
        if endpoint.rate_limit is not None and claimed:
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
        return len(claimed)

    async def _attempt(self, delivery: ClaimedDelivery, target: _Target) -> None:
        try:
            result = await send(
                self.clients,
                self.policy,
                url=target.url,
                message_id=delivery.message_id,
                payload=delivery.payload,
                secrets=target.secrets,
                custom_headers=target.headers,
                now=self.clock.now(),
                excerpt_bytes=self.settings.response_excerpt_bytes,
            )
            await self._record(delivery, result)
        except Exception as exc:  # the lease runs out and the delivery is attempted again
            _log.warning("delivery attempt not recorded", delivery_id=delivery.id, error=repr(exc))
        finally:
            self._in_flight[delivery.endpoint_id] -= 1
            if self._in_flight[delivery.endpoint_id] <= 0:
                del self._in_flight[delivery.endpoint_id]
            self.wake()

    def _retry_delay(self, attempt: int) -> float | None:
        """Seconds before the attempt after ``attempt``, jittered; None after the last one."""
        schedule = self.settings.retry_schedule_seconds
        if attempt >= len(schedule):
            return None
        ratio = self.settings.retry_jitter_ratio
        return schedule[attempt] * random.uniform(1 - ratio, 1 + ratio)

    async def _record(self, delivery: ClaimedDelivery, result: AttemptResult) -> None:
        now = self.clock.now()
        gone = result.status_code == 410
        common = {
            "last_status_code": result.status_code,
            "last_error": result.error,
            "updated_at": now,
        }
        next_attempt_at = None
        if result.succeeded:
            values = {"status": "succeeded", "delivered_at": now, "next_attempt_at": None}
        else:
            delay = None if gone else self._retry_delay(delivery.attempt)
            if delay is None:
                values = {"status": "failed", "failed_at": now, "next_attempt_at": None}
            else:
                next_attempt_at = now + timedelta(seconds=delay)
                values = {"status": "pending", "next_attempt_at": next_attempt_at}
        async with unit_of_work(self.sessions) as session:
            if not await DeliveryQueue(session).settle(
                delivery.id, delivery.token, **values, **common
            ):
                # The lease ran out and another pass took the delivery over: its outcome counts.
                return
            session.add(
                Attempt(
                    id=new_id(),
                    tenant_id=delivery.tenant_id,
                    delivery_id=delivery.id,
                    message_id=delivery.message_id,
                    endpoint_id=delivery.endpoint_id,
                    event_type=delivery.event_type,
                    attempt=delivery.attempt,
                    outcome="succeeded" if result.succeeded else "failed",
                    status_code=result.status_code,
                    duration_ms=result.duration_ms,
                    response_excerpt=result.excerpt,
                    error=result.error,
                    next_attempt_at=next_attempt_at,
                    created_at=now,
                )
            )
            if result.succeeded:
                await record_success(session, delivery.endpoint_id)
            else:
                await record_failure(
                    session,
                    self.bus,
                    delivery.endpoint_id,
                    now,
                    gone=gone,
                    disable_after_seconds=self.settings.disable_after_failing_seconds,
                )

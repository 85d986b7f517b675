"""Attempt outcomes, written in batches. Each finished attempt is queued here, and one writer
records everything queued so far in a single transaction: the delivery settled (if its claim is
still this process's), the attempt logged, the endpoint's health updated once per endpoint. One
writer instead of one transaction per attempt is what lets a process record hundreds of
outcomes a second, on SQLite (one writer at a time, so concurrent transactions would queue on
its lock) as on PostgreSQL (one commit per batch). An outcome queued but not yet written when
the process dies is lost with it, and its delivery, still under lease, is attempted again once
the lease runs out, with the same ``webhook-id``."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.bus import Bus
from v100.kit.db import new_id, not_interrupted, unit_of_work, writers_turn
from v100.kit.observability import get_logger
from v100.services.integration.clock import Clock
from v100.services.integration.delivery import AttemptResult
from v100.services.integration.delivery_queue import ClaimedDelivery, DeliveryQueue, Settlement
from v100.services.integration.health import record_failure, record_success
from v100.services.integration.models import Attempt
from v100.services.integration.settings import IntegrationSettings

__all__ = ["Outcomes"]

_log = get_logger("v100.integration.outcomes")
# Outcomes written per transaction at most.
_BATCH = 500


@dataclass(frozen=True, slots=True)
class _Outcome:
    delivery: ClaimedDelivery
    result: AttemptResult
    at: datetime


class Outcomes:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: IntegrationSettings,
        clock: Clock,
        bus: Bus,
        *,
        on_written: Callable[[list[ClaimedDelivery]], None],
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.bus = bus
        self.on_written = on_written
        self._queue: list[_Outcome] = []
        self._queued = asyncio.Event()

    def add(self, delivery: ClaimedDelivery, result: AttemptResult) -> None:
        self._queue.append(_Outcome(delivery, result, self.clock.now()))
        self._queued.set()

    async def run(self) -> None:
        """Write what is queued until cancelled; then what is still queued, once."""
        try:
            while True:
                await self._queued.wait()
                await not_interrupted(self.write_queued())
        finally:
            if self._queue:
                await not_interrupted(self.write_queued())

    async def write_queued(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:_BATCH], self._queue[_BATCH:]
            if not self._queue:
                self._queued.clear()
            try:
                await self._write(batch)
            except Exception as exc:  # their leases run out and they are attempted again
                _log.warning("attempt outcomes not recorded", count=len(batch), error=repr(exc))
            self.on_written([outcome.delivery for outcome in batch])

    def _retry_delay(self, attempt: int) -> float | None:
        """Seconds before the attempt after ``attempt``, jittered; None after the last one."""
        schedule = self.settings.retry_schedule_seconds
        if attempt >= len(schedule):
            return None
        ratio = self.settings.retry_jitter_ratio
        return schedule[attempt] * random.uniform(1 - ratio, 1 + ratio)

    async def _write(self, batch: list[_Outcome]) -> None:
        settlements = [self._settled(outcome) for outcome in batch]
        async with writers_turn(self.sessions), unit_of_work(self.sessions) as session:
            # A delivery whose lease ran out and which another pass took over is not written:
            # the new claim's outcome counts.
            written = await DeliveryQueue(session).settle(settlements, marker=new_id())
            attempts: list[dict[str, Any]] = []
            # endpoint -> (whether its last attempt here failed, any success, 410 seen, when)
            health: dict[str, tuple[bool, bool, bool, datetime]] = {}
            for outcome, settled in zip(batch, settlements, strict=True):
                if settled.id not in written:
                    continue
                delivery, result, now = outcome.delivery, outcome.result, outcome.at
                attempts.append(_attempt_row(delivery, result, settled, now))
                _, succeeded, gone, _ = health.get(delivery.endpoint_id, (False, False, False, now))
                health[delivery.endpoint_id] = (
                    not result.succeeded,
                    succeeded or result.succeeded,
                    gone or result.status_code == 410,
                    now,
                )
            if attempts:
                await session.execute(insert(Attempt), attempts)
            for endpoint_id, (failed_last, succeeded, gone, now) in health.items():
                if succeeded:
                    await record_success(session, endpoint_id)
                if failed_last or gone:
                    await record_failure(
                        session,
                        self.bus,
                        endpoint_id,
                        now,
                        gone=gone,
                        disable_after_seconds=self.settings.disable_after_failing_seconds,
                    )

    def _settled(self, outcome: _Outcome) -> Settlement:
        delivery, result, now = outcome.delivery, outcome.result, outcome.at
        status, next_attempt_at = "succeeded", None
        if not result.succeeded:
            delay = None if result.status_code == 410 else self._retry_delay(delivery.attempt)
            if delay is None:
                status = "failed"
            else:
                status, next_attempt_at = "pending", now + timedelta(seconds=delay)
        return Settlement(
            id=delivery.id,
            token=delivery.token,
            status=status,
            next_attempt_at=next_attempt_at,
            delivered_at=now if status == "succeeded" else None,
            failed_at=now if status == "failed" else None,
            last_status_code=result.status_code,
            last_error=result.error,
            updated_at=now,
        )


def _attempt_row(
    delivery: ClaimedDelivery, result: AttemptResult, settled: Settlement, now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "tenant_id": delivery.tenant_id,
        "delivery_id": delivery.id,
        "message_id": delivery.message_id,
        "endpoint_id": delivery.endpoint_id,
        "event_type": delivery.event_type,
        "attempt": delivery.attempt,
        "outcome": "succeeded" if result.succeeded else "failed",
        "status_code": result.status_code,
        "duration_ms": result.duration_ms,
        "response_excerpt": result.excerpt,
        "error": result.error,
        "next_attempt_at": settled.next_attempt_at,
        "created_at": now,
    }

"""Retention: messages older than ``retention_days`` go, with their deliveries, attempts and
consumer-group leases, unless a delivery of theirs is still open (it goes once settled). Every
replica sweeps hourly; two sweeping at once delete the same rows, harmlessly."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import unit_of_work
from v100.kit.observability import get_logger
from v100.services.integration.clock import Clock
from v100.services.integration.models import (
    OPEN_STATUSES,
    Attempt,
    Delivery,
    Message,
    Notification,
    StreamLease,
)

__all__ = ["sweep", "sweep_hourly"]

_BATCH = 1000
_log = get_logger("v100.integration.retention")


async def sweep(sessions: async_sessionmaker[AsyncSession], cutoff: datetime) -> int:
    """Delete what is older than ``cutoff``; how many messages went."""
    removed = 0
    while True:
        async with unit_of_work(sessions) as session:
            still_open = exists().where(
                Delivery.message_id == Message.id, Delivery.status.in_(OPEN_STATUSES)
            )
            ids = list(
                (
                    await session.execute(
                        select(Message.id)
                        .where(Message.created_at < cutoff, ~still_open)
                        .limit(_BATCH)
                    )
                ).scalars()
            )
            if ids:
                for model in (Attempt, Delivery, StreamLease):
                    await session.execute(delete(model).where(model.message_id.in_(ids)))
                await session.execute(delete(Message).where(Message.id.in_(ids)))
            if len(ids) < _BATCH:
                await session.execute(delete(Notification).where(Notification.created_at < cutoff))
        removed += len(ids)
        if len(ids) < _BATCH:
            return removed


async def sweep_hourly(sessions: async_sessionmaker[AsyncSession], clock: Clock, days: int) -> None:
    while True:
        try:
            removed = await sweep(sessions, clock.now() - timedelta(days=days))
            if removed:
                _log.info("messages past retention removed", count=removed)
        except Exception as exc:  # the next hour tries again
            _log.warning("retention sweep failed", error=repr(exc))
        await asyncio.sleep(3600)

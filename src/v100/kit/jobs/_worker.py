"""The distributed worker loop behind ``v100 worker <service>``: start the service's queue (with
its start-up recovery and scheduler), read the Redis stream until SIGINT or SIGTERM, then let
running jobs finish and hand back the rest."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.jobs._queue import JobQueue
from v100.kit.jobs._registry import JobRegistry
from v100.kit.observability import get_logger

__all__ = ["run_worker"]

_log = get_logger("v100.kit.jobs")


async def run_worker(
    registry: JobRegistry,
    sessions: async_sessionmaker[AsyncSession],
    redis_url: str,
    *,
    stop: asyncio.Event | None = None,
    schedule: bool = True,
    **options: Any,
) -> None:
    """Run ``registry``'s jobs from Redis until ``stop`` is set (None: until SIGINT/SIGTERM).

    ``options`` go to ``JobQueue`` (``concurrency``, ``lease_seconds``, ``stream``, ...).
    """
    for check in registry.requires:
        await check()
    own_signals = stop is None
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if own_signals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
    queue = JobQueue(registry, sessions, redis_url=redis_url, **options)
    try:
        report = await queue.start(schedule=schedule)
        _log.info(
            "worker started",
            service=registry.service,
            stream=queue.stream,
            tasks=len(registry),
            requeued=len(report.requeued),
            resent=len(report.resent),
        )
        await queue.work(stop)
    finally:
        await queue.close()
        if own_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(signum)
        _log.info("worker stopped", service=registry.service)

"""Wiring a service's jobs into the app factory: an ``on_startup`` hook that builds the queue on
the service's sessions and starts it (start-up recovery included) once migrations have run, a
``jobs`` readiness check, and the ``on_shutdown`` hook that closes it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from v100.kit.jobs._queue import JobQueue
from v100.kit.jobs._registry import JobRegistry
from v100.kit.observability import get_logger

if TYPE_CHECKING:
    from v100.kit.http import Runtime

__all__ = ["job_hooks"]

_log = get_logger("v100.kit.jobs")

Hook = Callable[["Runtime"], Awaitable[None]]


def job_hooks(registry: JobRegistry, **options: Any) -> tuple[Hook, Hook]:
    """(on_startup, on_shutdown) for ``create_service_app``:

        startup, shutdown = job_hooks(tasks.jobs)
        create_service_app(settings, ..., database=DATABASE,
                           on_startup=[startup], on_shutdown=[shutdown])

    Embedded, the app runs its jobs (and their schedules) itself. Distributed, it only sends
    them (and sweeps); ``v100 worker <service>`` runs them. ``options`` go to ``JobQueue``.
    """
    queues: list[JobQueue] = []

    async def on_startup(runtime: Runtime) -> None:
        if runtime.sessions is None:
            raise RuntimeError(f"{registry.service}: jobs need the service's database")
        for check in registry.requires:
            await check()
        queue = JobQueue(
            registry, runtime.sessions, redis_url=runtime.settings.platform.redis_url, **options
        )
        queues.append(queue)
        runtime.checks["jobs"] = queue.ping

        async def start_when_migrated() -> None:
            # The job table is created by the service's migrations, which run in the background.
            await runtime.migrated.wait()
            if queue.closed:  # shut down before the migrations finished
                return
            try:
                schedules = runtime.settings.platform.run_schedules
                await queue.start(schedule=None if schedules else False)
            except Exception:
                _log.exception("job queue did not start", service=registry.service)

        runtime.background.append(asyncio.create_task(start_when_migrated()))

    async def on_shutdown(_runtime: Runtime) -> None:
        while queues:
            await queues.pop().close()

    return on_startup, on_shutdown

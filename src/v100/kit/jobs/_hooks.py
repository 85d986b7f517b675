"""A service's jobs as a component of its app (``ServiceSpec.components``): at start-up it builds
the queue on the service's sessions and starts it (start-up recovery included) once migrations
have run, with a ``jobs`` readiness check; at shutdown it closes the queue."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from v100.kit.jobs._queue import JobQueue
from v100.kit.jobs._registry import JobRegistry
from v100.kit.observability import get_logger

if TYPE_CHECKING:
    from v100.kit.http import Runtime

__all__ = ["running_jobs"]

_log = get_logger("v100.kit.jobs")


def running_jobs(
    registry: JobRegistry, **options: Any
) -> Callable[[Runtime], contextlib.AbstractAsyncContextManager[None]]:
    """The component that runs ``registry``'s jobs:

        ServiceSpec(settings, ..., database=DATABASE, components=[running_jobs(tasks.jobs)])

    Embedded, the app runs its jobs (and their schedules) itself. Distributed, it only sends
    them (and sweeps); ``v100 worker <service>`` runs them. ``options`` go to ``JobQueue``.
    """

    @contextlib.asynccontextmanager
    async def component(runtime: Runtime) -> AsyncIterator[None]:
        if runtime.sessions is None:
            raise RuntimeError(f"{registry.service}: jobs need the service's database")
        for check in registry.requires:
            await check()
        queue = JobQueue(
            registry, runtime.sessions, redis_url=runtime.settings.platform.redis_url, **options
        )
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
        try:
            yield
        finally:
            await queue.close()

    return component

"""What a running job sees: its ``JobContext`` (id, attempt, tenant, the service's sessions and a
throttled ``report_progress``), reachable as the task's first argument or from anywhere in the
job's call tree through ``current_job()``; and ``PermanentJobError``, the failure not to retry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import unit_of_work
from v100.kit.jobs._shutdown import STOP_TIMEOUT, stop_tasks
from v100.kit.observability import get_logger

__all__ = ["JobContext", "PermanentJobError", "current_job", "report_progress"]

_log = get_logger("v100.kit.jobs")

ProgressWriter = Callable[[int], Awaitable[bool]]

_current: ContextVar[JobContext | None] = ContextVar("v100_current_job", default=None)


class PermanentJobError(Exception):
    """Raised by a task when retrying cannot help (the input is invalid, the thing it works on is
    gone): the job fails at once with this message, whatever attempts remain."""


class JobContext:
    """One run (attempt) of one job."""

    def __init__(
        self,
        *,
        id: str,
        task: str,
        service: str,
        attempt: int,
        max_attempts: int,
        tenant_id: str | None,
        sessions: async_sessionmaker[AsyncSession],
        write_progress: ProgressWriter,
        progress_interval: float,
    ) -> None:
        self.id = id
        self.task = task
        self.service = service
        # 1 on the first run; a run that died counts, so a recovered job starts at 2.
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.tenant_id = tenant_id
        self.sessions = sessions
        self._write = write_progress
        self._interval = progress_interval
        self._target = 0
        self._written = 0
        self._last_write = float("-inf")
        self._flush: asyncio.Task[None] | None = None

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    @property
    def progress(self) -> int:
        """The last percentage reported (written to the row now or within the interval)."""
        return self._target

    def unit_of_work(self) -> AbstractAsyncContextManager[AsyncSession]:
        """The service's one commit point, for the job's own changes (and its follow-up jobs)."""
        return unit_of_work(self.sessions)

    async def report_progress(self, percent: float) -> None:
        """Record how far the job is, 0-100 (floored to a whole percent).

        Written to the row at most once per interval, so a tight loop may call it freely: the
        latest value is written when the interval has passed, and in any case when the job ends.
        """
        value = max(0, min(100, int(percent)))
        if value == self._target:
            return
        self._target = value
        wait = self._last_write + self._interval - time.monotonic()
        if wait <= 0:
            await self._write_now()
        elif self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._write_later(wait))

    async def _write_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._write_now()

    async def _write_now(self) -> None:
        value = self._target
        self._last_write = time.monotonic()
        if value == self._written:
            return
        try:
            await self._write(value)
        except Exception as exc:  # progress is informative: a missed write must not fail the job
            _log.warning("job progress not recorded", job_id=self.id, error=repr(exc))
            return
        self._written = value

    async def _close(self) -> None:
        if self._flush is not None:
            await stop_tasks([self._flush], within=STOP_TIMEOUT, what="job progress write")

    def __repr__(self) -> str:
        return f"<JobContext {self.task} {self.id} attempt {self.attempt}/{self.max_attempts}>"


def current_job() -> JobContext:
    """The job this code runs in; raises ``LookupError`` outside a job."""
    job = _current.get()
    if job is None:
        raise LookupError("not running inside a job")
    return job


async def report_progress(percent: float) -> None:
    """``current_job().report_progress(percent)``, for code deep in a job's call tree."""
    await current_job().report_progress(percent)


def _enter(job: JobContext) -> None:
    _current.set(job)

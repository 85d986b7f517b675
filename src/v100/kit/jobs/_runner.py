"""The execution wrapper around every task: claim the row (only one runner wins), run the task
under a heartbeat that renews the lease, then record the outcome: succeeded, queued again with
backoff, failed with the error, or given back when the process shuts down mid-run."""

from __future__ import annotations

import asyncio
import functools
import random
import traceback
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import new_id, utcnow
from v100.kit.jobs._context import JobContext, PermanentJobError, _enter
from v100.kit.jobs._registry import JobTask
from v100.kit.jobs._shutdown import STOP_TIMEOUT, stop_tasks
from v100.kit.jobs._store import Claim, JobStore, error_text
from v100.kit.observability import get_logger

__all__ = ["JobRunner"]

_log = get_logger("v100.kit.jobs")
# Pauses before writing a job's outcome again when the database refused it.
_RECORD_PAUSES = (0.5, 2.0)

# Called with (job id, task name, when) to send the job again once it is due.
SendLater = Callable[[str, str, datetime], None]


class _RunState:
    __slots__ = ("lost",)

    def __init__(self) -> None:
        # The row stopped being this run's (cancelled, or the lease was taken over).
        self.lost = False


class JobRunner:
    def __init__(
        self,
        *,
        store: JobStore,
        service: str,
        sessions: async_sessionmaker[AsyncSession],
        lease_seconds: float,
        progress_interval: float,
        send_later: SendLater,
    ) -> None:
        self._store = store
        self._service = service
        self._sessions = sessions
        # Several beats per lease, so one slow write does not cost the lease.
        self.heartbeat_interval = lease_seconds / 4
        self._progress_interval = progress_interval
        self._send_later = send_later

    async def run(self, task: JobTask, job_id: str) -> None:
        token = new_id()
        claim = await self._store.claim(job_id, token)
        if claim is None:
            # A duplicate delivery, a finished or cancelled job, or one that arrived early.
            due = await self._store.queued_not_due(job_id)
            if due is not None:
                self._send_later(job_id, task.name, due)
            return
        job = JobContext(
            id=job_id,
            task=task.name,
            service=self._service,
            attempt=claim.attempt,
            max_attempts=claim.max_attempts,
            tenant_id=claim.tenant_id,
            sessions=self._sessions,
            write_progress=lambda percent: self._store.beat(job_id, token, percent),
            progress_interval=self._progress_interval,
        )
        state = _RunState()
        body = asyncio.create_task(self._call(task, job, claim), name=f"job {task.name} {job_id}")
        heartbeat = asyncio.create_task(self._heartbeat(job_id, token, body, state))
        try:
            await body
        except asyncio.CancelledError as exc:
            await self._stop(heartbeat, job)
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # This process is shutting down: hand the job back, uncounted, and let the
                # cancellation go on.
                if not state.lost:
                    await self._record(
                        lambda: self._store.release(job_id, token), job_id, "release"
                    )
                raise
            if state.lost:
                _log.info("job no longer ours; stopped", job_id=job_id, task=task.name)
                return
            await self._failed(task, job, token, exc, traceback.format_exc())
        except Exception as exc:
            await self._stop(heartbeat, job)
            await self._failed(task, job, token, exc, traceback.format_exc())
        else:
            await self._stop(heartbeat, job)
            await self._record(lambda: self._store.succeed(job_id, token), job_id, "success")
        finally:
            # On every path, including a second cancellation while recording.
            await self._stop(heartbeat, job)

    async def _call(self, task: JobTask, job: JobContext, claim: Claim) -> None:
        _enter(job)
        if task.timeout is None:
            await task.fn(job, *claim.args, **claim.kwargs)
            return
        limit = asyncio.timeout(task.timeout)
        try:
            async with limit:
                await task.fn(job, *claim.args, **claim.kwargs)
        except TimeoutError:
            if limit.expired():
                raise TimeoutError(f"the attempt took longer than {task.timeout} s") from None
            raise

    async def _heartbeat(
        self, job_id: str, token: str, body: asyncio.Task[None], state: _RunState
    ) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                owned = await self._store.beat(job_id, token)
            except Exception as exc:  # the database may be back before the lease runs out
                _log.warning("job heartbeat failed", job_id=job_id, error=repr(exc))
                continue
            if not owned:
                state.lost = True
                body.cancel()
                return

    @staticmethod
    async def _stop(heartbeat: asyncio.Task[None], job: JobContext) -> None:
        await stop_tasks([heartbeat], within=STOP_TIMEOUT, what="job heartbeat")
        await job._close()

    async def _failed(
        self, task: JobTask, job: JobContext, token: str, exc: BaseException, trace: str
    ) -> None:
        error = error_text(exc, trace)
        if isinstance(exc, PermanentJobError) or job.is_last_attempt:
            _log.warning(
                "job failed", job_id=job.id, task=task.name, attempt=job.attempt, error=repr(exc)
            )
            await self._record(lambda: self._store.fail(job.id, token, error), job.id, "failure")
            return
        delay = min(task.backoff * 2 ** (job.attempt - 1), task.max_backoff)
        # Jitter spreads the retries of jobs that failed together (a dependency went down).
        delay *= random.uniform(0.8, 1.2)
        run_after = utcnow() + timedelta(seconds=delay)
        _log.info(
            "job attempt failed; will retry",
            job_id=job.id,
            task=task.name,
            attempt=job.attempt,
            retry_in=round(delay, 3),
            error=repr(exc),
        )
        retry = functools.partial(self._store.retry_at, job.id, token, run_after, error)
        if await self._record(retry, job.id, "retry"):
            self._send_later(job.id, task.name, run_after)

    @staticmethod
    async def _record(write: Callable[[], Awaitable[bool]], job_id: str, what: str) -> bool:
        # Written again after a moment when the database refuses (SQLite busy past its timeout
        # under load): the work is done, and a lost outcome means running it all again. Given
        # up on, the row stays running with no heartbeat and the sweeper takes it up after the
        # lease, so the outcome is retried rather than lost (tasks are idempotent).
        for pause in (*_RECORD_PAUSES, None):
            try:
                owned = await write()
                break
            except Exception as exc:
                if pause is None:
                    _log.error(
                        "job outcome not recorded", job_id=job_id, outcome=what, error=repr(exc)
                    )
                    return False
                _log.warning(
                    "job outcome not recorded yet; trying again",
                    job_id=job_id,
                    outcome=what,
                    error=repr(exc),
                )
                await asyncio.sleep(pause)
        if not owned:
            _log.info("job outcome dropped: the row moved on", job_id=job_id, outcome=what)
        return owned

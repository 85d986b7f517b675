"""A sample service's jobs for ``test_jobs*.py``: its tables (``kit_jobs``, and ``job_runs`` where
every task writes what it did, so runs can be counted across processes), its tasks, helpers to
look at them, and a worker entry point the crash tests start as a subprocess and kill.

    python tests/kit/jobs_sample.py <database_url> <redis_url or -> <stream> <lease_seconds>
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import TaskiqMessage, TaskiqMiddleware

from v100.kit.db import (
    create_engine,
    create_sessionmaker,
    new_id,
    service_metadata,
    unit_of_work,
    utcnow,
)
from v100.kit.jobs import (
    JOB_TABLE,
    JobContext,
    JobQueue,
    JobRecord,
    JobRegistry,
    JobTask,
    PermanentJobError,
    add_job_table,
    enqueue,
    get_job,
    report_progress,
    run_worker,
)

SERVICE = "jobsample"
MIGRATIONS = Path(__file__).parent / "migrations_jobs"

metadata = service_metadata(SERVICE)
add_job_table(metadata)
job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(36), nullable=False),
    Column("task", String(200), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("note", String(200), nullable=False),
)

jobs = JobRegistry(SERVICE)

# In-process tests open a gate to let a ``gated`` job finish; names are unique per test.
gates: dict[str, asyncio.Event] = {}
# Notes of ``gated`` jobs whose body was cancelled (by a cancel request or a shutdown).
interrupted: list[str] = []


async def _record(job: JobContext, note: str) -> None:
    async with job.unit_of_work() as session:
        await session.execute(
            insert(job_runs).values(job_id=job.id, task=job.task, attempt=job.attempt, note=note)
        )


@jobs.task()
async def record(job: JobContext, note: str) -> None:
    await _record(job, note)


@jobs.task(max_attempts=3, backoff=0.05)
async def flaky(job: JobContext, note: str, failures: int) -> None:
    if job.attempt <= failures:
        raise RuntimeError(f"boom on attempt {job.attempt}")
    await _record(job, note)


@jobs.task(max_attempts=3, backoff=0.05)
async def always_fails(job: JobContext, note: str) -> None:
    await _record(job, note)
    raise ValueError(f"nope ({job.attempt})")


@jobs.task(max_attempts=5, backoff=0.05)
async def rejects(job: JobContext, note: str) -> None:
    await _record(job, note)
    raise PermanentJobError("the input can never work")


@jobs.task()
async def gated(job: JobContext, note: str, progress: int) -> None:
    await report_progress(progress)  # through the context variable, as deep code would
    try:
        await gates.setdefault(note, asyncio.Event()).wait()
    except asyncio.CancelledError:
        interrupted.append(note)
        raise
    await _record(job, note)


@jobs.task(max_attempts=3, backoff=0.05)
async def crashes_first(job: JobContext, note: str) -> None:
    await _record(job, f"{note}:started")
    if job.attempt == 1:
        await asyncio.sleep(3600)  # the test kills the process (or fakes its death) here
    await _record(job, f"{note}:completed")


@jobs.task(max_attempts=2, backoff=0.05, timeout=0.2)
async def too_slow(job: JobContext, note: str) -> None:
    await _record(job, note)
    await asyncio.sleep(10)


# A registry of its own, so the other tests' queues run no scheduler.
cron_jobs = JobRegistry(SERVICE)


@cron_jobs.task(name="jobsample.every_minute", cron="* * * * *")
async def every_minute(job: JobContext) -> None:
    await _record(job, "tick")


# -- what the tests use to look at and steer the sample -------------------------------------

Sessions = async_sessionmaker[AsyncSession]
kit_jobs = metadata.tables[JOB_TABLE]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def runs(sessions: Sessions, job_id: str | None = None) -> list[tuple[int, str]]:
    """(attempt, note) of what tasks did, in order."""
    statement = select(job_runs.c.attempt, job_runs.c.note).order_by(job_runs.c.id)
    if job_id is not None:
        statement = statement.where(job_runs.c.job_id == job_id)
    async with sessions() as session:
        return [(row.attempt, row.note) for row in (await session.execute(statement)).all()]


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, within: float = 15.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} not reached within {within} s")


async def read_job(sessions: Sessions, job_id: str) -> JobRecord:
    async with sessions() as session:
        job = await get_job(session, job_id)
    assert job is not None
    return job


async def enqueue_committed(sessions: Sessions, task: JobTask, *args: Any, **options: Any) -> str:
    async with unit_of_work(sessions) as session:
        return await enqueue(session, task, *args, **options)


async def fake_dead_run(sessions: Sessions, job_id: str) -> None:
    """Leave the job as a runner that died mid-run leaves it: running, one attempt used, its
    heartbeat long stale."""
    long_ago = utcnow() - timedelta(minutes=10)
    async with unit_of_work(sessions) as session:
        await session.execute(
            update(kit_jobs)
            .where(kit_jobs.c.id == job_id)
            .values(
                status="running",
                attempts=1,
                lease_token=new_id(),
                heartbeat_at=long_ago,
                started_at=long_ago,
            )
        )


class SendLog(TaskiqMiddleware):
    """The job ids a broker was asked to send, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.job_ids: list[str] = []

    def post_send(self, message: TaskiqMessage) -> None:
        self.job_ids.append(message.args[0])


async def _main(database_url: str, redis_url: str, stream: str, lease_seconds: float) -> None:
    engine = create_engine(database_url)
    sessions = create_sessionmaker(engine)
    try:
        if redis_url == "-":
            # Embedded: this process runs what it sends, from its start-up recovery on.
            queue = JobQueue(jobs, sessions, lease_seconds=lease_seconds, sweep_interval=0.2)
            await queue.start()
            await asyncio.Event().wait()
        else:
            await run_worker(
                jobs,
                sessions,
                redis_url,
                stream=stream,
                lease_seconds=lease_seconds,
                sweep_interval=0.2,
            )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))

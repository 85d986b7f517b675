"""Job fixtures: ``job_backend`` runs a test embedded (in-memory broker, SQLite) and distributed
(a Redis stream of the test's own, a fresh PostgreSQL database) when both servers are given;
``running_queue`` runs a registry's queue (and, distributed, an in-process worker) for a test;
``wait_for_job`` polls a job row until it settles; ``job_attempts`` reads how often a task's one
job was started, from a database another process wrote.

As a plugin it shortens, for every queue made in a test process, the time a closing queue gives
its running jobs (``shutdown_grace``) from production's 10 s to the tests' 1 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from v100.kit.db import create_engine, drop_database
from v100.kit.jobs import JobQueue, JobRecord, JobRegistry, JobStatus, get_job
from v100.kit.testing.bus import redis_url_or_skip
from v100.kit.testing.db import POSTGRES_URL_ENV, fresh_postgres_url, postgres_admin_url

__all__ = [
    "JOB_BACKENDS",
    "JobBackend",
    "job_attempts",
    "job_backend",
    "running_queue",
    "wait_for_job",
]

JOB_BACKENDS = ["embedded", "distributed"]
SETTLED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

# The worker reads the stream with a 1 s block: it notices its stop event well within this.
WORKER_STOP_TIMEOUT = 15.0

# Short enough that recovery tests take seconds, long enough that a loaded CI machine does not
# expire the lease of a healthy runner.
TEST_QUEUE_OPTIONS: dict[str, Any] = {
    "lease_seconds": 2.0,
    "sweep_interval": 0.2,
    "shutdown_grace": 1.0,
    "progress_interval": 0.05,
}


def pytest_configure(config: pytest.Config) -> None:
    """A test that ends while a job still runs (its assertions done) stops the app, whose queue
    then waits for the job before handing it back: the same path with 1 s instead of 10 s, so
    such a test does not end with up to 10 s of waiting. A test about shutdown passes its own
    ``shutdown_grace``; a ``v100`` process started by a test keeps production's."""
    defaults = vars(JobQueue)["__init__"].__kwdefaults__
    assert "shutdown_grace" in defaults, "JobQueue's shutdown_grace was renamed"
    defaults["shutdown_grace"] = TEST_QUEUE_OPTIONS["shutdown_grace"]


@dataclass(frozen=True, slots=True)
class JobBackend:
    name: str
    database_url: str
    redis_url: str | None = None
    stream: str | None = None

    @property
    def distributed(self) -> bool:
        return self.redis_url is not None


@pytest.fixture(params=JOB_BACKENDS)
async def job_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobBackend]:
    if request.param == "embedded":
        yield JobBackend("embedded", f"sqlite+aiosqlite:///{tmp_path}/jobs.db")
        return
    redis_url = redis_url_or_skip()
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set (scripts/services/postgres.sh start)")
    prefix: str = request.getfixturevalue("redis_prefix")  # deletes the stream afterwards
    database_url = fresh_postgres_url(admin_url)
    try:
        yield JobBackend("distributed", database_url, redis_url, f"{prefix}jobs")
    finally:
        await drop_database(database_url)


@asynccontextmanager
async def running_queue(
    registry: JobRegistry,
    sessions: async_sessionmaker[AsyncSession],
    backend: JobBackend,
    *,
    work: bool = True,
    schedule: bool | None = None,
    **options: Any,
) -> AsyncIterator[JobQueue]:
    """A started queue on ``backend``; distributed with ``work``, also its worker loop (what
    ``v100 worker`` runs), in this process. Closed (and the worker stopped) afterwards."""
    queue = JobQueue(
        registry,
        sessions,
        redis_url=backend.redis_url,
        stream=backend.stream,
        **{**TEST_QUEUE_OPTIONS, **options},
    )
    stop = asyncio.Event()
    worker: asyncio.Task[None] | None = None
    try:
        await queue.start(schedule=schedule)
        if work and backend.distributed:
            worker = asyncio.create_task(queue.work(stop))
        yield queue
    finally:
        stop.set()
        problem = None if worker is None else await _stop_worker(worker, WORKER_STOP_TIMEOUT)
        await queue.close()
        if problem is not None:
            raise AssertionError(problem)


async def _stop_worker(worker: asyncio.Task[None], within: float) -> str | None:
    """Wait up to ``within`` seconds for a worker whose stop event is set; what went wrong, if
    anything. One that does not stop is cancelled and left behind: not ``asyncio.wait_for``,
    which on Python 3.11 waits without limit for the task it cancels, the very hang to report."""
    done, _ = await asyncio.wait({worker}, timeout=within)
    if not done:
        worker.cancel()
        await asyncio.wait({worker}, timeout=1.0)
        return f"the worker did not stop within {within} s of its stop event"
    if not worker.cancelled() and (error := worker.exception()) is not None:
        return f"the worker failed: {error!r}"
    return None


async def wait_for_job(
    sessions: async_sessionmaker[AsyncSession],
    job_id: str,
    *,
    statuses: Collection[JobStatus] = SETTLED,
    within: float = 15.0,
) -> JobRecord:
    """The job once its status is one of ``statuses`` (default: finished); fails the test with
    the row's last state after ``within`` seconds."""
    deadline = time.monotonic() + within
    job: JobRecord | None = None
    while time.monotonic() < deadline:
        async with sessions() as session:
            job = await get_job(session, job_id)
        if job is not None and job.status in statuses:
            return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} did not reach {sorted(statuses)} in {within} s: {job}")


async def job_attempts(database_url: str, task: str) -> int:
    """How many times the one job of ``task`` in ``database_url`` was started (its ``attempts``);
    fails when there is not exactly one such job."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            query = text("SELECT attempts FROM kit_jobs WHERE task = :task")
            rows = (await connection.execute(query, {"task": task})).all()
    finally:
        await engine.dispose()
    assert len(rows) == 1, f"{len(rows)} jobs of {task}"
    return int(rows[0].attempts)

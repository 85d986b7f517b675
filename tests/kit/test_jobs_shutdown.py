"""Jobs at shutdown, embedded and distributed: a queue closes, and a worker stops, promptly even
when a library swallowed the cancellation that was to stop them, as redis-py's commands can on
Python 3.11 (their ``asyncio.wait_for``, CPython gh-86296)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from v100.kit.db import create_sessionmaker
from v100.kit.jobs import JobQueue, JobStatus
from v100.kit.jobs._shutdown import STOP_TIMEOUT
from v100.kit.testing.db import migrated_engine
from v100.kit.testing.jobs import TEST_QUEUE_OPTIONS, JobBackend, running_queue, wait_for_job

from .jobs_sample import MIGRATIONS, SERVICE, Sessions, enqueue_committed, jobs, metadata, record

# Well under the bounds (STOP_TIMEOUT, the fixture's worker limit): stopping this fast shows
# the task noticed it was to stop, rather than being given up on.
PROMPT = 5.0


@pytest.fixture
async def sessions(job_backend: JobBackend) -> AsyncIterator[Sessions]:
    async with migrated_engine(SERVICE, job_backend.database_url, MIGRATIONS, metadata) as engine:
        yield create_sessionmaker(engine)


class SwallowedCancellation:
    """Wraps an async method the way gh-86296 breaks one: once ``armed``, the next call waits
    until it is cancelled, swallows the cancellation, then does its work and returns normally."""

    def __init__(self, real: Callable[..., Awaitable[Any]]) -> None:
        self.real = real
        self.armed = False
        self.swallowing = asyncio.Event()

    def method(self) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.armed and not self.swallowing.is_set():
                self.swallowing.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(60)
            return await self.real(*args, **kwargs)

        return call


async def test_a_queue_closes_promptly_when_its_sweep_swallowed_the_cancellation(
    job_backend: JobBackend, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {**TEST_QUEUE_OPTIONS, "stream": job_backend.stream}
    queue = JobQueue(jobs, sessions, redis_url=job_backend.redis_url, **options)
    await queue.start()
    broken = SwallowedCancellation(JobQueue._nothing_in_flight)  # every sweep asks it
    monkeypatch.setattr(JobQueue, "_nothing_in_flight", broken.method())
    broken.armed = True
    async with asyncio.timeout(5):
        await broken.swallowing.wait()
    started = asyncio.get_running_loop().time()
    async with asyncio.timeout(STOP_TIMEOUT * 2):
        await queue.close()
    assert asyncio.get_running_loop().time() - started < PROMPT
    assert all(task.done() for task in queue._background)  # the sweep loop ended


async def test_a_worker_stops_promptly_when_its_stream_read_swallowed_the_cancellation(
    job_backend: JobBackend, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not job_backend.distributed:
        pytest.skip("only a distributed worker reads a stream")
    broken = SwallowedCancellation(Redis.xreadgroup)
    monkeypatch.setattr(Redis, "xreadgroup", broken.method())
    async with running_queue(jobs, sessions, job_backend):
        job_id = await enqueue_committed(sessions, record, "before stopping")
        assert (await wait_for_job(sessions, job_id)).status is JobStatus.SUCCEEDED
        broken.armed = True
        async with asyncio.timeout(5):
            await broken.swallowing.wait()  # the worker's next read, which its stop cancels
        started = asyncio.get_running_loop().time()
    # The fixture fails the test if the worker has not stopped within its own limit.
    assert asyncio.get_running_loop().time() - started < PROMPT

"""Job recovery and schedules, embedded and distributed: a dead runner's job (faked, or a worker
process really killed) is finished exactly once, also with two recoverers at once; queued jobs
of a stopped process are sent again, also after Redis restarted empty; a shutdown hands running
jobs back; each cron tick is enqueued once however many schedulers run."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from taskiq.scheduler.scheduled_task import ScheduledTask

from v100.kit.db import create_sessionmaker, drop_database, unit_of_work
from v100.kit.jobs import JobQueue, JobStatus
from v100.kit.jobs._scheduler import tick_key
from v100.kit.testing.bus import RedisServer
from v100.kit.testing.db import fresh_postgres_url, migrated_engine, postgres_admin_url
from v100.kit.testing.jobs import TEST_QUEUE_OPTIONS, JobBackend, running_queue, wait_for_job

from .jobs_sample import (
    MIGRATIONS,
    SERVICE,
    Sessions,
    crashes_first,
    cron_jobs,
    enqueue_committed,
    fake_dead_run,
    gated,
    gates,
    interrupted,
    jobs,
    kit_jobs,
    metadata,
    read_job,
    record,
    runs,
    unique,
    wait_until,
)

pytestmark = pytest.mark.time_sensitive

SAMPLE_SCRIPT = Path(__file__).with_name("jobs_sample.py")


@pytest.fixture
async def sessions(job_backend: JobBackend) -> AsyncIterator[Sessions]:
    """The sample service's database, built by its real migrations."""
    async with migrated_engine(SERVICE, job_backend.database_url, MIGRATIONS, metadata) as engine:
        yield create_sessionmaker(engine)


# -- recovery ------------------------------------------------------------------------------


async def test_a_dead_runners_job_is_recovered_on_restart_exactly_once(
    job_backend: JobBackend, sessions: Sessions
) -> None:
    job_id = await enqueue_committed(sessions, crashes_first, "crash")  # no queue runs yet
    await fake_dead_run(sessions, job_id)
    async with running_queue(jobs, sessions, job_backend):
        job = await wait_for_job(sessions, job_id)
        await asyncio.sleep(0.5)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
    assert job.last_error is not None
    assert "runner stopped" in job.last_error
    assert await runs(sessions, job_id) == [(2, "crash:started"), (2, "crash:completed")]


async def test_a_dead_runners_last_attempt_fails_the_job(
    job_backend: JobBackend, sessions: Sessions
) -> None:
    job_id = await enqueue_committed(sessions, record, "last")
    await fake_dead_run(sessions, job_id)
    async with unit_of_work(sessions) as session:
        await session.execute(
            update(kit_jobs).where(kit_jobs.c.id == job_id).values(max_attempts=1)
        )
    async with running_queue(jobs, sessions, job_backend):
        job = await wait_for_job(sessions, job_id)
    assert (job.status, job.attempts) == (JobStatus.FAILED, 1)
    assert job.last_error is not None
    assert "last attempt" in job.last_error
    assert await runs(sessions, job_id) == []


async def test_queued_jobs_of_a_stopped_process_are_sent_on_restart(
    job_backend: JobBackend, sessions: Sessions
) -> None:
    job_ids = [await enqueue_committed(sessions, record, f"waiting {n}") for n in range(3)]
    async with running_queue(jobs, sessions, job_backend):
        for job_id in job_ids:
            assert (await wait_for_job(sessions, job_id)).status is JobStatus.SUCCEEDED
    assert sorted(note for _, note in await runs(sessions)) == [f"waiting {n}" for n in range(3)]


async def test_two_recoverers_at_once_run_a_job_once(
    job_backend: JobBackend, sessions: Sessions
) -> None:
    dead = await enqueue_committed(sessions, crashes_first, "contended")
    await fake_dead_run(sessions, dead)
    queues = [
        JobQueue(
            jobs,
            sessions,
            redis_url=job_backend.redis_url,
            stream=job_backend.stream,
            **TEST_QUEUE_OPTIONS,
        )
        for _ in range(2)
    ]
    stop = asyncio.Event()
    workers: list[asyncio.Task[None]] = []
    try:
        reports = await asyncio.gather(*(queue.start() for queue in queues))
        if job_backend.distributed:
            workers = [asyncio.create_task(queue.work(stop)) for queue in queues]
        await wait_for_job(sessions, dead)
        # And a job delivered several times at once (a resend racing a redelivery): one claim.
        twice = await enqueue_committed(sessions, record, "delivered thrice")
        await asyncio.gather(*(queue.send(twice, record.name) for queue in queues))
        await wait_for_job(sessions, twice)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(*workers)
        for queue in queues:
            await queue.close()
    assert sorted(len(report.requeued) for report in reports) == [0, 1]
    assert (await read_job(sessions, dead)).attempts == 2
    assert await runs(sessions, dead) == [(2, "contended:started"), (2, "contended:completed")]
    assert await runs(sessions, twice) == [(1, "delivered thrice")]


@pytest.mark.real_clock
async def test_a_killed_worker_process_job_is_finished_by_the_next_one(
    job_backend: JobBackend, sessions: Sessions, tmp_path: Path
) -> None:
    job_id = await enqueue_committed(sessions, crashes_first, "killed")
    log = (tmp_path / "worker.log").open("w")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SAMPLE_SCRIPT),
        job_backend.database_url,
        job_backend.redis_url or "-",
        job_backend.stream or "-",
        "1.0",
        stdout=log,
        stderr=log,
    )
    try:

        async def started() -> bool:
            return (1, "killed:started") in await runs(sessions, job_id)

        await wait_until(started, within=30, what="the worker process started the job")
        assert (await read_job(sessions, job_id)).status is JobStatus.RUNNING
    except AssertionError:
        log.close()
        raise AssertionError((tmp_path / "worker.log").read_text()[-3000:]) from None
    finally:
        process.kill()  # SIGKILL: no shutdown path runs, the row stays "running"
        await process.wait()
        log.close()
    async with running_queue(jobs, sessions, job_backend, lease_seconds=1.0):
        job = await wait_for_job(sessions, job_id, within=30)
        await asyncio.sleep(0.5)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
    assert await runs(sessions, job_id) == [
        (1, "killed:started"),
        (2, "killed:started"),
        (2, "killed:completed"),
    ]


async def test_shutdown_hands_running_jobs_back_uncounted(
    job_backend: JobBackend, sessions: Sessions
) -> None:
    note = unique("shutdown")
    gates[note] = asyncio.Event()
    async with running_queue(jobs, sessions, job_backend, shutdown_grace=0.1):
        job_id = await enqueue_committed(sessions, gated, note, 5)
        await wait_for_job(sessions, job_id, statuses={JobStatus.RUNNING})
    job = await read_job(sessions, job_id)
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 0)
    assert note in interrupted
    gates[note].set()
    async with running_queue(jobs, sessions, job_backend):
        job = await wait_for_job(sessions, job_id)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)


# -- schedules -----------------------------------------------------------------------------


async def test_each_cron_tick_is_enqueued_once_across_schedulers(
    job_backend: JobBackend, sessions: Sessions
) -> None:
    statement = select(kit_jobs.c.id, kit_jobs.c.dedupe_key, kit_jobs.c.status).where(
        kit_jobs.c.task == "jobsample.every_minute"
    )

    async def ticked() -> bool:
        async with sessions() as session:
            rows = (await session.execute(statement)).all()
        return any(row.status == "succeeded" for row in rows)

    async with (
        running_queue(cron_jobs, sessions, job_backend, schedule=True),
        running_queue(cron_jobs, sessions, job_backend, schedule=True),
    ):
        await wait_until(ticked, within=10, what="a cron tick ran")
        await asyncio.sleep(1.5)  # the other scheduler fired on the same tick
    async with sessions() as session:
        rows = (await session.execute(statement)).all()
    assert len(rows) == 1
    assert rows[0].dedupe_key.startswith("schedule:jobsample.every_minute@cron:")
    assert [note for _, note in await runs(sessions)] == ["tick"]


def test_tick_keys_name_the_minute_or_the_interval_slot() -> None:
    now = datetime(2026, 11, 27, 3, 0, 42, tzinfo=UTC)
    cron = ScheduledTask(task_name="t", labels={}, args=[], kwargs={}, cron="0 3 * * *")
    cron.schedule_id = "t@cron"
    assert tick_key(cron, now) == "schedule:t@cron:2026-11-27T03:00Z"
    assert tick_key(cron, now + timedelta(seconds=17)) == tick_key(cron, now)
    every = ScheduledTask(task_name="t", labels={}, args=[], kwargs={}, interval=30)
    every.schedule_id = "t@interval"
    assert tick_key(every, now) != tick_key(every, now + timedelta(seconds=30))


async def test_jobs_outlive_a_redis_restart_that_lost_everything(redis_server: RedisServer) -> None:
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip("needs PostgreSQL too (scripts/services/postgres.sh start)")
    backend = JobBackend("distributed", fresh_postgres_url(admin_url), redis_server.url, "jobs")
    try:
        async with migrated_engine(SERVICE, backend.database_url, MIGRATIONS, metadata) as engine:
            sessions = create_sessionmaker(engine)
            # A day before anything counts as lost by age: only an empty stream can tell.
            async with running_queue(jobs, sessions, backend, resend_after=86_400):
                before = await enqueue_committed(sessions, record, "before")
                await wait_for_job(sessions, before)
                await redis_server.stop()
                # Committed while Redis is down: the row is kept, the after-commit send fails.
                during = await enqueue_committed(sessions, record, "during")
                await redis_server.start()  # empty: no stream, no group, no messages
                job = await wait_for_job(sessions, during, within=30)
                assert job.attempts == 1
                async with sessions() as session:
                    sent_at = await session.scalar(
                        select(kit_jobs.c.sent_at).where(kit_jobs.c.id == during)
                    )
                assert sent_at is not None
                assert sent_at > job.created_at  # sent again by a sweep, not by its request
                after = await enqueue_committed(sessions, record, "after")
                assert (await wait_for_job(sessions, after)).status is JobStatus.SUCCEEDED
            assert [note for _, note in await runs(sessions)] == ["before", "during", "after"]
    finally:
        await drop_database(backend.database_url)

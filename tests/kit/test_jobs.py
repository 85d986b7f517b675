"""Jobs, embedded (in-memory broker, SQLite) and distributed (Redis stream, PostgreSQL): sent only
after commit and never on rollback; retries, failures, timeouts, progress, dedupe, delays and
cancels; the migration helper; a service app's hooks; ``v100 worker``. Recovery and schedules
are in ``test_jobs_recovery.py``."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import types
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from fastapi import APIRouter
from pydantic_settings import SettingsConfigDict
from sqlalchemy import select
from typer.testing import CliRunner

from v100.kit.db import create_sessionmaker, schema_drift, unit_of_work
from v100.kit.errors import Conflict
from v100.kit.http import Access, DatabaseSpec, ServiceSpec, SessionDep, create_service_app
from v100.kit.jobs import JobContext, JobStatus, cancel_job, enqueue, get_job, running_jobs
from v100.kit.settings import PlatformSettings, ServiceSettings
from v100.kit.testing.db import migrated_engine
from v100.kit.testing.http import running_app
from v100.kit.testing.jobs import TEST_QUEUE_OPTIONS, JobBackend, running_queue, wait_for_job

from .jobs_sample import (
    MIGRATIONS,
    SERVICE,
    SendLog,
    Sessions,
    always_fails,
    enqueue_committed,
    flaky,
    gated,
    gates,
    interrupted,
    jobs,
    kit_jobs,
    metadata,
    read_job,
    record,
    rejects,
    runs,
    too_slow,
    unique,
    wait_until,
)

pytestmark = pytest.mark.time_sensitive


@pytest.fixture
async def sessions(job_backend: JobBackend) -> AsyncIterator[Sessions]:
    """The sample service's database, built by its real migrations."""
    async with migrated_engine(SERVICE, job_backend.database_url, MIGRATIONS, metadata) as engine:
        yield create_sessionmaker(engine)


# -- the commit point ----------------------------------------------------------------------


async def test_a_committed_job_is_sent_after_commit_and_runs(
    job_backend: JobBackend, sessions: Sessions
) -> None:
    async with running_queue(jobs, sessions, job_backend) as queue:
        sent = SendLog()
        queue.broker.add_middlewares(sent)
        async with unit_of_work(sessions) as session:
            job_id = await enqueue(session, record, "hello", tenant_id="t-1")
            await asyncio.sleep(0.3)  # sweeps come and go: nothing is sent before the commit
            assert sent.job_ids == []
        assert sent.job_ids == [job_id]
        job = await wait_for_job(sessions, job_id)
    assert job.status is JobStatus.SUCCEEDED
    assert (job.attempts, job.progress, job.tenant_id) == (1, 100, "t-1")
    assert (job.service, job.task, job.args, job.kwargs) == (SERVICE, record.name, ["hello"], {})
    assert job.finished_at is not None
    assert job.started_at is not None
    assert await runs(sessions) == [(1, "hello")]


async def test_a_rolled_back_job_leaves_no_row_and_never_runs(
    job_backend: JobBackend, sessions: Sessions
) -> None:
    async with running_queue(jobs, sessions, job_backend) as queue:
        sent = SendLog()
        queue.broker.add_middlewares(sent)
        enqueued: list[str] = []

        async def failing_request() -> None:
            async with unit_of_work(sessions) as session:
                enqueued.append(await enqueue(session, record, "never"))
                raise RuntimeError("the business change failed")

        with pytest.raises(RuntimeError, match="business change failed"):
            await failing_request()
        report = await queue.sweep(resend_after=0)
        await asyncio.sleep(0.5)
    assert sent.job_ids == []
    assert report.resent == []
    assert report.requeued == []
    async with sessions() as session:
        assert await get_job(session, enqueued[0]) is None
    assert await runs(sessions) == []


async def test_enqueue_checks_arguments_before_writing(sessions: Sessions) -> None:
    async with unit_of_work(sessions) as session:
        with pytest.raises(TypeError, match="bad arguments"):
            await enqueue(session, record, "a", "too many")
        with pytest.raises(TypeError, match="JSON-serializable"):
            await enqueue(session, record, datetime.now(UTC))
    async with sessions() as session:
        assert (await session.execute(select(kit_jobs.c.id))).all() == []


# -- outcomes ------------------------------------------------------------------------------


async def test_a_failing_job_is_retried_with_backoff_until_it_succeeds(
    job_backend: JobBackend, sessions: Sessions
) -> None:
    async with running_queue(jobs, sessions, job_backend):
        job_id = await enqueue_committed(sessions, flaky, "third time", failures=2)
        job = await wait_for_job(sessions, job_id)
    assert job.status is JobStatus.SUCCEEDED
    assert job.attempts == 3
    assert job.last_error is not None
    assert job.last_error.startswith("RuntimeError: boom on attempt 2")
    assert await runs(sessions, job_id) == [(3, "third time")]


async def test_a_job_fails_after_max_attempts_with_its_last_error(
    job_backend: JobBackend, sessions: Sessions
) -> None:
    async with running_queue(jobs, sessions, job_backend) as queue:
        job_id = await enqueue_committed(sessions, always_fails, "doomed")
        job = await wait_for_job(sessions, job_id)
        await asyncio.sleep(0.3)
        await queue.sweep(resend_after=0)  # a failed job is not picked up again
        await asyncio.sleep(0.3)
    assert job.status is JobStatus.FAILED
    assert job.attempts == job.max_attempts == 3
    assert job.last_error is not None
    assert job.last_error.startswith("ValueError: nope (3)")
    assert "Traceback" in job.last_error
    assert job.finished_at is not None
    assert await runs(sessions, job_id) == [(1, "doomed"), (2, "doomed"), (3, "doomed")]
    assert (await read_job(sessions, job_id)).attempts == 3


async def test_a_permanent_error_fails_the_job_at_once(
    job_backend: JobBackend, sessions: Sessions
) -> None:
    async with running_queue(jobs, sessions, job_backend):
        job_id = await enqueue_committed(sessions, rejects, "once")
        job = await wait_for_job(sessions, job_id)
    assert (job.status, job.attempts, job.max_attempts) == (JobStatus.FAILED, 1, 5)
    assert job.last_error is not None
    assert job.last_error.startswith("PermanentJobError: the input can never work")
    assert await runs(sessions, job_id) == [(1, "once")]


async def test_an_attempt_over_its_timeout_fails(
    job_backend: JobBackend, sessions: Sessions
) -> None:
    async with running_queue(jobs, sessions, job_backend):
        job_id = await enqueue_committed(sessions, too_slow, "slow")
        job = await wait_for_job(sessions, job_id)
    assert (job.status, job.attempts) == (JobStatus.FAILED, 2)
    assert job.last_error is not None
    assert "longer than 0.2 s" in job.last_error


async def test_progress_is_recorded_while_the_job_runs(
    job_backend: JobBackend, sessions: Sessions
) -> None:
    note = unique("progress")
    gates[note] = asyncio.Event()
    async with running_queue(jobs, sessions, job_backend):
        job_id = await enqueue_committed(sessions, gated, note, 40)

        async def at_40_percent() -> bool:
            job = await read_job(sessions, job_id)
            return job.status is JobStatus.RUNNING and job.progress == 40

        await wait_until(at_40_percent, what="progress 40% while running")
        gates[note].set()
        job = await wait_for_job(sessions, job_id)
    assert (job.status, job.progress) == (JobStatus.SUCCEEDED, 100)
    assert await runs(sessions, job_id) == [(1, note)]


async def test_progress_writes_are_throttled_and_the_last_value_lands() -> None:
    written: list[int] = []

    async def write(percent: int) -> bool:
        written.append(percent)
        return True

    job = JobContext(
        id="j",
        task="t",
        service="s",
        attempt=1,
        max_attempts=1,
        tenant_id=None,
        sessions=None,  # type: ignore[arg-type]  # not used by progress
        write_progress=write,
        progress_interval=0.2,
    )
    for percent in range(1, 51):
        await job.report_progress(percent + 0.9)  # floored: 1.9 -> 1
    assert written == [1]  # the first write, then the interval holds the rest back
    await asyncio.sleep(0.3)
    assert written == [1, 50]  # the latest value, once the interval passed
    await job.report_progress(50)
    await asyncio.sleep(0.3)
    assert written == [1, 50]
    await job._close()


# -- dedupe, delay, cancel -----------------------------------------------------------------


async def test_a_dedupe_key_gives_back_the_existing_job(
    job_backend: JobBackend, sessions: Sessions
) -> None:
    async with running_queue(jobs, sessions, job_backend):
        first = await enqueue_committed(sessions, record, "once", dedupe_key="invoice-7")
        async with unit_of_work(sessions) as session:
            again = await enqueue(session, record, "twice", dedupe_key="invoice-7")
            # The caller's transaction is still usable after the conflict (PostgreSQL).
            await session.execute(select(kit_jobs.c.id))
        await wait_for_job(sessions, first)
        await asyncio.sleep(0.3)
    assert again == first
    assert await runs(sessions) == [(1, "once")]


async def test_a_delayed_job_waits_its_delay(job_backend: JobBackend, sessions: Sessions) -> None:
    async with running_queue(jobs, sessions, job_backend):
        job_id = await enqueue_committed(sessions, record, "later", delay=0.6)
        job = await wait_for_job(sessions, job_id)
    assert job.status is JobStatus.SUCCEEDED
    assert job.started_at is not None
    assert job.started_at - job.created_at >= timedelta(seconds=0.6)


async def test_cancelling_stops_queued_and_running_jobs(
    job_backend: JobBackend, sessions: Sessions
) -> None:
    note = unique("cancel")
    gates[note] = asyncio.Event()
    async with running_queue(jobs, sessions, job_backend) as queue:
        waiting = await enqueue_committed(sessions, record, "never", delay=30)
        running = await enqueue_committed(sessions, gated, note, 10)
        await wait_for_job(sessions, running, statuses={JobStatus.RUNNING})
        async with unit_of_work(sessions) as session:
            assert await cancel_job(session, waiting)
            assert await cancel_job(session, running)
        # The runner sees it at its next heartbeat and stops the task.
        await wait_until(lambda: _contains(interrupted, note), what="the running job stopped")
        report = await queue.sweep(resend_after=0)
        async with unit_of_work(sessions) as session:
            assert not await cancel_job(session, running)  # already finished
    assert report.resent == []
    for job_id in (waiting, running):
        assert (await read_job(sessions, job_id)).status is JobStatus.CANCELLED
    assert await runs(sessions) == []


async def _contains(items: list[str], item: str) -> bool:
    return item in items


# -- schema, app, CLI ----------------------------------------------------------------------


async def test_the_migration_helper_builds_the_declared_table(job_backend: JobBackend) -> None:
    async with migrated_engine(SERVICE, job_backend.database_url, MIGRATIONS, metadata) as engine:
        assert await schema_drift(engine, SERVICE, metadata) == []


class SampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_JOBSAMPLE_", extra="ignore")
    service: ClassVar[str] = SERVICE


notes = APIRouter()


@notes.post("/v1/notes/{note}", status_code=202)
async def create_note(note: str, session: SessionDep) -> dict[str, str]:
    job_id = await enqueue(session, record, note)
    if note.startswith("taken"):
        raise Conflict("That note is taken.")  # the request fails: its job must not exist
    return {"job_id": job_id}


async def test_a_service_app_sends_its_requests_jobs_after_commit(
    job_backend: JobBackend, tmp_path: Path
) -> None:
    platform = PlatformSettings(
        var_dir=tmp_path, redis_url=job_backend.redis_url, internal_token_secret="s" * 32
    )
    settings = SampleSettings(platform=platform, database_url=job_backend.database_url)
    app = create_service_app(
        ServiceSpec(
            settings,
            title="jobsample",
            routers=[notes],
            database=DatabaseSpec(metadata, MIGRATIONS),
            access=Access(internal_token=False),
            components=[running_jobs(jobs, stream=job_backend.stream, **TEST_QUEUE_OPTIONS)],
        )
    )
    # Distributed, the app only sends: a worker with its own engine (as a `v100 worker` process
    # would have) runs the jobs. Embedded, the app's queue runs them itself.
    async with (
        migrated_engine(SERVICE, job_backend.database_url, MIGRATIONS, metadata) as engine,
        running_queue(jobs, create_sessionmaker(engine), job_backend)
        if job_backend.distributed
        else contextlib.nullcontext() as worker,
        running_app(app) as http,
    ):
        sessions: Sessions = app.state.runtime.sessions

        async def ready() -> bool:
            return (await http.get("/ready")).status_code == 200

        await wait_until(ready, what="/ready")
        assert (await http.get("/ready")).json()["checks"]["jobs"] == "ok"
        app_queue = jobs.queue
        assert app_queue is not None
        assert app_queue is not worker
        assert app_queue.sessions is sessions
        sent = SendLog()
        app_queue.broker.add_middlewares(sent)
        accepted = await http.post("/v1/notes/kept")
        assert accepted.status_code == 202, accepted.text
        refused = await http.post("/v1/notes/taken")
        assert refused.status_code == 409
        job_id = accepted.json()["job_id"]
        assert sent.job_ids == [job_id]  # sent by the app, after the request's commit
        job = await wait_for_job(sessions, job_id)
        await asyncio.sleep(0.3)
    assert job.status is JobStatus.SUCCEEDED
    async with migrated_engine(SERVICE, job_backend.database_url, MIGRATIONS, metadata) as engine:
        sessions = create_sessionmaker(engine)
        assert await runs(sessions) == [(1, "kept")]
        async with sessions() as session:
            assert len((await session.execute(select(kit_jobs.c.id))).all()) == 1


def test_worker_command_explains_a_service_without_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    from v100.cli import app

    # Whether or not billing grows a tasks module later, this run sees none.
    monkeypatch.setitem(sys.modules, "v100.services.billing.tasks", None)
    result = CliRunner().invoke(app, ["worker", "billing"])
    assert result.exit_code == 2
    assert "no background jobs" in result.output
    result = CliRunner().invoke(app, ["worker", "no_such_service"])
    assert result.exit_code == 2
    assert "unknown service" in result.output


def test_worker_command_needs_the_job_stream(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from v100.cli import app
    from v100.kit.jobs import JobRegistry

    tasks = types.ModuleType("v100.services.billing.tasks")
    tasks.jobs = JobRegistry("billing")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "v100.services.billing.tasks", tasks)
    monkeypatch.delenv("V100_REDIS_URL", raising=False)
    monkeypatch.setenv("V100_VAR_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["worker", "billing"])
    assert result.exit_code == 2
    assert "needs V100_REDIS_URL" in result.output


async def test_an_outcome_the_database_refused_is_written_again(
    job_backend: JobBackend, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite under load answered "database is locked" to the success write: the job stayed
    # running until its lease ran out and ran again (seen in CI). Now it is written again.
    from sqlalchemy.exc import OperationalError

    from v100.kit.jobs._store import JobStore

    original, refused = JobStore.succeed, []

    async def succeed_after_a_refusal(self: JobStore, job_id: str, token: str) -> bool:
        if not refused:
            refused.append(job_id)
            raise OperationalError("UPDATE jobs", {}, Exception("database is locked"))
        return await original(self, job_id, token)

    monkeypatch.setattr(JobStore, "succeed", succeed_after_a_refusal)
    async with running_queue(jobs, sessions, job_backend):
        async with unit_of_work(sessions) as session:
            job_id = await enqueue(session, record, "once")
        job = await wait_for_job(sessions, job_id, within=10)
    assert refused == [job_id]
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)
    assert await runs(sessions) == [(1, "once")]

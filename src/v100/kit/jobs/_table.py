"""The ``kit_jobs`` table each service keeps in its own database: one row per job, holding what
to run (task and JSON arguments), where it stands (status, attempts, progress, last error) and
the lease that tells a live runner from a dead one; plus the reads services make of it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.db import ID_LENGTH, NAMING_CONVENTION, UTCDateTime, utcnow

__all__ = [
    "JOB_TABLE",
    "JobRecord",
    "JobStatus",
    "abandoned",
    "add_job_table",
    "cancel_job",
    "get_job",
]

JOB_TABLE = "kit_jobs"
TASK_NAME_LENGTH = 200
DEDUPE_KEY_LENGTH = 255


class JobStatus(StrEnum):
    """queued -> running -> succeeded | failed; running -> queued again for a retry or after a
    lost lease; queued | running -> cancelled on request."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
_STATUS_CHECK = "status IN ({})".format(", ".join(f"'{status}'" for status in JobStatus))


def _define(metadata: MetaData) -> Table:
    # Keep in step with ``migration.create_job_table`` (a test compares the two).
    return Table(
        JOB_TABLE,
        metadata,
        Column("id", String(ID_LENGTH), primary_key=True),
        Column("service", String(64), nullable=False),
        Column("task", String(TASK_NAME_LENGTH), nullable=False),
        # {"args": [...], "kwargs": {...}}: what the task function is called with.
        Column("args", JSON, nullable=False),
        Column("status", String(16), nullable=False),
        # Runs started so far, including one that died: a crash counts against max_attempts.
        Column("attempts", Integer, nullable=False),
        Column("max_attempts", Integer, nullable=False),
        Column("last_error", Text, nullable=True),
        Column("progress", Integer, nullable=False),
        Column("tenant_id", String(ID_LENGTH), nullable=True, index=True),
        # Unique for the life of the row: an idempotency key, or one cron tick.
        Column("dedupe_key", String(DEDUPE_KEY_LENGTH), nullable=True, unique=True),
        # Not to be started before this (retry backoff, delayed jobs).
        Column("run_after", UTCDateTime(), nullable=False),
        # When a broker message was last sent for this job: a queued job due for a while and
        # not sent since is presumed lost (a failed after-commit send, a restarted broker).
        Column("sent_at", UTCDateTime(), nullable=False),
        # The current run's claim; every write by that run checks it, so a runner that lost its
        # lease cannot overwrite the outcome of the run that replaced it.
        Column("lease_token", String(ID_LENGTH), nullable=True),
        Column("heartbeat_at", UTCDateTime(), nullable=True),
        Column("started_at", UTCDateTime(), nullable=True),
        Column("finished_at", UTCDateTime(), nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
        CheckConstraint(_STATUS_CHECK, name="status"),
        # The sweeper's two questions: due queued jobs, and running jobs by lease age.
        Index("ix_kit_jobs_status_run_after", "status", "run_after"),
    )


# The kit's own handle on the table, for the statements it runs; SQL does not depend on which
# MetaData a Table belongs to, so one copy serves every service's database.
JOBS = _define(MetaData(naming_convention=NAMING_CONVENTION))


def add_job_table(metadata: MetaData) -> Table:
    """Declare ``kit_jobs`` in a service's MetaData (its ``Base.metadata``), so autogenerate and
    the schema-drift test know about it. The table itself is created by the service's migration
    calling ``v100.kit.jobs.migration.create_job_table()``."""
    if JOB_TABLE in metadata.tables:
        return metadata.tables[JOB_TABLE]
    return _define(metadata)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job row as services read it (to answer ``GET /v1/...`` with a job's status)."""

    id: str
    service: str
    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    status: JobStatus
    attempts: int
    max_attempts: int
    last_error: str | None
    progress: int
    tenant_id: str | None
    dedupe_key: str | None
    run_after: datetime
    heartbeat_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_row(cls, row: Any) -> JobRecord:
        payload = row.args or {}
        return cls(
            id=row.id,
            service=row.service,
            task=row.task,
            args=list(payload.get("args", [])),
            kwargs=dict(payload.get("kwargs", {})),
            status=JobStatus(row.status),
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            last_error=row.last_error,
            progress=row.progress,
            tenant_id=row.tenant_id,
            dedupe_key=row.dedupe_key,
            run_after=row.run_after,
            heartbeat_at=row.heartbeat_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


async def get_job(
    session: AsyncSession, job_id: str, *, tenant_id: str | None = None
) -> JobRecord | None:
    """The job, or None. With ``tenant_id``, another tenant's job is not found either."""
    statement = select(JOBS).where(JOBS.c.id == job_id)
    if tenant_id is not None:
        statement = statement.where(JOBS.c.tenant_id == tenant_id)
    row = (await session.execute(statement)).first()
    return None if row is None else JobRecord.from_row(row)


class _WorkOfAJob(Protocol):
    @property
    def job_id(self) -> str | None: ...


W = TypeVar("W", bound=_WorkOfAJob)


async def abandoned(
    session: AsyncSession, unsettled: Iterable[W], what: str
) -> list[tuple[W, str]]:
    """Of a service's unsettled rows (each with the id of the job doing its work), those whose
    job failed or was cancelled without settling them (its last runner died), each with why:
    ``"<what> stopped (failed): <the job's last error>"``. A service's ``settle_abandoned``
    ends them failed."""
    found: list[tuple[W, str]] = []
    for row in unsettled:
        assert row.job_id is not None
        record = await get_job(session, row.job_id)
        if record is None or record.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            continue
        found.append((row, f"{what} stopped ({record.status}): {record.last_error or 'no reason'}"))
    return found


async def cancel_job(session: AsyncSession, job_id: str, *, tenant_id: str | None = None) -> bool:
    """Cancel a job that has not finished, in the caller's transaction; False when it already
    finished (or does not exist). A running job stops at its runner's next heartbeat."""
    now = utcnow()
    statement = (
        update(JOBS)
        .where(
            JOBS.c.id == job_id,
            JOBS.c.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
        )
        .values(status=JobStatus.CANCELLED, finished_at=now, updated_at=now, lease_token=None)
        .returning(JOBS.c.id)
    )
    if tenant_id is not None:
        statement = statement.where(JOBS.c.tenant_id == tenant_id)
    return (await session.execute(statement)).first() is not None

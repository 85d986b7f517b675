"""Every write to ``kit_jobs``, each a single conditional statement so that concurrent runners and
sweepers (threads, replicas, a process that came back) agree without locks: a row moves only
from the state the writer expects, and writes by a run carry its lease token."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Update

from v100.kit.db import new_id, utcnow
from v100.kit.jobs._table import DEDUPE_KEY_LENGTH, JOBS, JobStatus

__all__ = ["Claim", "JobStore", "Sendable", "insert_job"]

# Enough of a traceback to find the failing line; the row is not a log store.
MAX_ERROR_LENGTH = 8_000
SWEEP_BATCH = 500


@dataclass(frozen=True, slots=True)
class Claim:
    """What a runner needs once it has won a job."""

    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    attempt: int
    max_attempts: int
    tenant_id: str | None


@dataclass(frozen=True, slots=True)
class Sendable:
    id: str
    task: str
    run_after: datetime


async def insert_job(
    session: AsyncSession,
    *,
    service: str,
    task: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    max_attempts: int,
    tenant_id: str | None,
    dedupe_key: str | None,
    run_after: datetime,
) -> tuple[str, bool]:
    """Insert a queued job in the caller's transaction: (id, True), or (the existing job's id,
    False) when ``dedupe_key`` is taken. ON CONFLICT, not a caught IntegrityError, so the
    caller's transaction stays usable on PostgreSQL."""
    payload = {"args": list(args), "kwargs": dict(kwargs)}
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"job {task} arguments must be JSON-serializable: {exc}") from None
    if dedupe_key is not None and not 0 < len(dedupe_key) <= DEDUPE_KEY_LENGTH:
        raise ValueError(f"dedupe_key must be 1-{DEDUPE_KEY_LENGTH} characters")
    now = utcnow()
    job_id = new_id()
    values = {
        "id": job_id,
        "service": service,
        "task": task,
        "args": payload,
        "status": JobStatus.QUEUED.value,
        "attempts": 0,
        "max_attempts": max_attempts,
        "progress": 0,
        "tenant_id": tenant_id,
        "dedupe_key": dedupe_key,
        "run_after": max(run_after, now),
        "sent_at": now,
        "created_at": now,
        "updated_at": now,
    }
    if dedupe_key is None:
        await session.execute(insert(JOBS).values(values))
        return job_id, True
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql_insert(JOBS).values(values)
    elif dialect == "sqlite":
        statement = sqlite_insert(JOBS).values(values)
    else:  # pragma: no cover - the kit supports these two
        raise NotImplementedError(f"dedupe on {dialect}")
    statement = statement.on_conflict_do_nothing(index_elements=["dedupe_key"])
    if (await session.execute(statement.returning(JOBS.c.id))).first() is not None:
        return job_id, True
    existing = await session.scalar(select(JOBS.c.id).where(JOBS.c.dedupe_key == dedupe_key))
    if existing is None:  # pragma: no cover - the conflicting row cannot vanish in between
        raise RuntimeError(f"dedupe key {dedupe_key!r} conflicted but no job holds it")
    return str(existing), False


def error_text(exc: BaseException, traceback_text: str = "") -> str:
    text = f"{type(exc).__name__}: {exc}"
    if traceback_text:
        text = f"{text}\n{traceback_text}"
    return text[-MAX_ERROR_LENGTH:] if len(text) > MAX_ERROR_LENGTH else text


class JobStore:
    """The job statements of one service, each in its own short transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], service: str) -> None:
        self._sessions = sessions
        self._service = service

    async def _rows(self, statement: Any) -> list[Any]:
        async with self._sessions() as session, session.begin():
            return list((await session.execute(statement)).all())

    def _run(self, job_id: str, token: str) -> ColumnElement[bool]:
        """Rows this run still owns."""
        return and_(
            JOBS.c.id == job_id,
            JOBS.c.lease_token == token,
            JOBS.c.status == JobStatus.RUNNING.value,
        )

    async def claim(self, job_id: str, token: str) -> Claim | None:
        """Move a due queued job to running for this run; None when someone else has it, it
        has finished or been cancelled, or it is not due yet. Only one claimer can win."""
        now = utcnow()
        rows = await self._rows(
            update(JOBS)
            .where(
                JOBS.c.id == job_id,
                JOBS.c.status == JobStatus.QUEUED.value,
                JOBS.c.run_after <= now,
            )
            .values(
                status=JobStatus.RUNNING.value,
                attempts=JOBS.c.attempts + 1,
                lease_token=token,
                heartbeat_at=now,
                started_at=now,
                progress=0,
                updated_at=now,
            )
            .returning(
                JOBS.c.task, JOBS.c.args, JOBS.c.attempts, JOBS.c.max_attempts, JOBS.c.tenant_id
            )
        )
        if not rows:
            return None
        row = rows[0]
        payload = row.args or {}
        return Claim(
            task=row.task,
            args=list(payload.get("args", [])),
            kwargs=dict(payload.get("kwargs", {})),
            attempt=row.attempts,
            max_attempts=row.max_attempts,
            tenant_id=row.tenant_id,
        )

    async def queued_not_due(self, job_id: str) -> datetime | None:
        """When a queued job becomes due, if it is queued and not due yet."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(JOBS.c.run_after).where(
                        JOBS.c.id == job_id, JOBS.c.status == JobStatus.QUEUED.value
                    )
                )
            ).first()
        if row is None or row.run_after <= utcnow():
            return None
        run_after: datetime = row.run_after
        return run_after

    async def beat(self, job_id: str, token: str, progress: int | None = None) -> bool:
        """Renew the lease (and record progress); False when the run no longer owns the job."""
        now = utcnow()
        values: dict[str, Any] = {"heartbeat_at": now, "updated_at": now}
        if progress is not None:
            values["progress"] = progress
        statement = update(JOBS).where(self._run(job_id, token)).values(values)
        return bool(await self._rows(statement.returning(JOBS.c.id)))

    async def _finish(self, job_id: str, token: str, values: dict[str, Any]) -> bool:
        now = utcnow()
        statement: Update = (
            update(JOBS)
            .where(self._run(job_id, token))
            .values(lease_token=None, updated_at=now, **values)
        )
        return bool(await self._rows(statement.returning(JOBS.c.id)))

    async def succeed(self, job_id: str, token: str) -> bool:
        return await self._finish(
            job_id,
            token,
            {"status": JobStatus.SUCCEEDED.value, "progress": 100, "finished_at": utcnow()},
        )

    async def fail(self, job_id: str, token: str, error: str) -> bool:
        return await self._finish(
            job_id,
            token,
            {"status": JobStatus.FAILED.value, "last_error": error, "finished_at": utcnow()},
        )

    async def retry_at(self, job_id: str, token: str, run_after: datetime, error: str) -> bool:
        # ``sent_at`` stays older than ``run_after``: "due and not sent since", which is what
        # the sweeper (and this process's timer) look for.
        return await self._finish(
            job_id,
            token,
            {
                "status": JobStatus.QUEUED.value,
                "run_after": run_after,
                "last_error": error,
                "heartbeat_at": None,
            },
        )

    async def release(self, job_id: str, token: str) -> bool:
        """Give back a job interrupted by shutdown: queued again, due now, the attempt not
        counted (the job did not fail)."""
        return await self._finish(
            job_id,
            token,
            {
                "status": JobStatus.QUEUED.value,
                "attempts": JOBS.c.attempts - 1,
                "run_after": utcnow(),
                "heartbeat_at": None,
            },
        )

    async def mark_sent(self, job_id: str) -> str | None:
        """Take the right to send a job that has become due and was not sent since: the task
        name, or None when another timer or sweeper took it (or the job moved on)."""
        now = utcnow()
        rows = await self._rows(
            update(JOBS)
            .where(
                JOBS.c.id == job_id,
                JOBS.c.status == JobStatus.QUEUED.value,
                JOBS.c.run_after <= now,
                JOBS.c.sent_at < JOBS.c.run_after,
            )
            .values(sent_at=now, updated_at=now)
            .returning(JOBS.c.task)
        )
        return str(rows[0].task) if rows else None

    async def expire_leases(self, lease_seconds: float) -> tuple[list[Sendable], list[str]]:
        """Running jobs whose runner stopped heartbeating (it died, or lost the database for a
        whole lease): queued again to send now, or failed when that was their last attempt.
        Returns (to send, failed ids)."""
        now = utcnow()
        stale = and_(
            JOBS.c.service == self._service,
            JOBS.c.status == JobStatus.RUNNING.value,
            JOBS.c.heartbeat_at < now - timedelta(seconds=lease_seconds),
        )
        exhausted = and_(stale, JOBS.c.attempts >= JOBS.c.max_attempts)
        failed = await self._rows(
            update(JOBS)
            .where(exhausted, JOBS.c.id.in_(select(JOBS.c.id).where(exhausted).limit(SWEEP_BATCH)))
            .values(
                status=JobStatus.FAILED.value,
                last_error="the runner stopped (no heartbeat within the lease) on the last attempt",
                lease_token=None,
                finished_at=now,
                updated_at=now,
            )
            .returning(JOBS.c.id)
        )
        retryable = and_(stale, JOBS.c.attempts < JOBS.c.max_attempts)
        requeued = await self._rows(
            update(JOBS)
            .where(retryable, JOBS.c.id.in_(select(JOBS.c.id).where(retryable).limit(SWEEP_BATCH)))
            .values(
                status=JobStatus.QUEUED.value,
                last_error="the runner stopped (no heartbeat within the lease); retried",
                lease_token=None,
                heartbeat_at=None,
                run_after=now,
                sent_at=now,
                updated_at=now,
            )
            .returning(JOBS.c.id, JOBS.c.task, JOBS.c.run_after)
        )
        return (
            [Sendable(row.id, row.task, row.run_after) for row in requeued],
            [str(row.id) for row in failed],
        )

    async def take_unsent(self, resend_before: datetime) -> list[Sendable]:
        """Due queued jobs that no message is known to carry: never sent since they became due
        (a retry whose timer died with its process), or sent before ``resend_before`` and still
        not picked up (the send failed after commit, or the broker lost the message)."""
        now = utcnow()
        lost = and_(
            JOBS.c.service == self._service,
            JOBS.c.status == JobStatus.QUEUED.value,
            JOBS.c.run_after <= now,
            or_(JOBS.c.sent_at < JOBS.c.run_after, JOBS.c.sent_at < resend_before),
        )
        rows = await self._rows(
            update(JOBS)
            .where(lost, JOBS.c.id.in_(select(JOBS.c.id).where(lost).limit(SWEEP_BATCH)))
            .values(sent_at=now, updated_at=now)
            .returning(JOBS.c.id, JOBS.c.task, JOBS.c.run_after)
        )
        return [Sendable(row.id, row.task, row.run_after) for row in rows]

    async def upcoming(self, until: datetime) -> list[Sendable]:
        """Queued jobs that become due before ``until`` (for timers in this process)."""
        now = utcnow()
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(JOBS.c.id, JOBS.c.task, JOBS.c.run_after)
                    .where(
                        JOBS.c.service == self._service,
                        JOBS.c.status == JobStatus.QUEUED.value,
                        JOBS.c.run_after > now,
                        JOBS.c.run_after <= until,
                    )
                    .limit(SWEEP_BATCH)
                )
            ).all()
        return [Sendable(row.id, row.task, row.run_after) for row in rows]

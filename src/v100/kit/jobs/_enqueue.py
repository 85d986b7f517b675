"""Enqueueing: the job row is written in the caller's transaction, next to the business change it
belongs to, and the broker hears of it only after that transaction commits; on rollback there is
neither a row nor a message (polar's ``worker/_enqueue.py``, with the buffer in the database)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.db import session_hooks, utcnow
from v100.kit.jobs._registry import JobTask, task_named
from v100.kit.jobs._store import insert_job
from v100.kit.observability import get_logger

if TYPE_CHECKING:
    from v100.kit.jobs._queue import JobQueue

__all__ = ["enqueue", "enqueue_via"]

_log = get_logger("v100.kit.jobs")


async def enqueue(
    session: AsyncSession,
    task: JobTask | str,
    *args: Any,
    dedupe_key: str | None = None,
    tenant_id: str | None = None,
    delay: float | timedelta | None = None,
    **kwargs: Any,
) -> str:
    """Queue ``task(job, *args, **kwargs)`` as part of ``session``'s unit of work; its id.
    ``task`` is its name (``"<service>.<function>"``) where the caller is code the task itself
    imports (a service's domain), so no import runs back from it to ``tasks.py``.

    The arguments are checked against the task's signature and must be JSON-serializable (pass
    ids, not objects). With ``dedupe_key``, a job that already holds the key (in any state, for
    the life of its row) is returned instead of a new one. ``delay`` holds the job back.

        async with unit_of_work(sessions) as session:
            invoice = await InvoiceRepository(session).add(...)
            await enqueue(session, send_invoice, invoice.id, tenant_id=invoice.tenant_id)
    """
    return await enqueue_via(
        None, session, task, args, kwargs, dedupe_key=dedupe_key, tenant_id=tenant_id, delay=delay
    )


async def enqueue_via(
    queue: JobQueue | None,
    session: AsyncSession,
    task: JobTask | str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    tenant_id: str | None = None,
    delay: float | timedelta | None = None,
) -> str:
    """``enqueue`` sending through ``queue`` (None: the queue running the task's registry in
    this process when the transaction commits)."""
    if isinstance(task, str):
        task = task_named(task)
    task.check_arguments(args, kwargs)
    if isinstance(delay, int | float):
        delay = timedelta(seconds=delay)
    run_after = utcnow() + (delay or timedelta(0))
    job_id, created = await insert_job(
        session,
        service=task.registry.service,
        task=task.name,
        args=args,
        kwargs=kwargs,
        max_attempts=task.max_attempts,
        tenant_id=tenant_id,
        dedupe_key=dedupe_key,
        run_after=run_after,
    )
    if not created:
        return job_id  # the existing job has its own life; nothing more to send

    async def send_after_commit() -> None:
        target = queue or task.registry.queue
        if target is None:
            # The row is committed, so the job is not lost: the first queue to sweep sends it.
            _log.warning(
                "no job queue runs this service here; the job waits for a sweep",
                service=task.registry.service,
                job_id=job_id,
                task=task.name,
            )
            return
        await target._dispatch(job_id, task.name, run_after)

    session_hooks(session).after_commit(send_after_commit)
    return job_id

"""Background jobs: taskiq underneath (in-memory broker embedded, a Redis stream per service
distributed), durable state in each service's own ``kit_jobs`` table, jobs sent only after the
enqueueing transaction commits, retries with backoff, progress, lease-based crash recovery and
cron schedules.

A service wires it like this:

    # tasks.py — what runs in the background
    jobs = JobRegistry("video_processing")

    @jobs.task(max_attempts=5, backoff=2.0, timeout=3600)
    async def render_clip(job: JobContext, clip_id: str) -> None:
        async with job.unit_of_work() as session:
            ...
        await job.report_progress(40)

    @jobs.task(cron="*/10 * * * *")
    async def expire_uploads(job: JobContext) -> None: ...

    # models.py — the table lives in the service's own metadata and database
    add_job_table(Base.metadata)

    # migrations/versions/2026-..._jobs.py
    from v100.kit.jobs.migration import create_job_table, drop_job_table
    def upgrade() -> None: create_job_table()
    def downgrade() -> None: drop_job_table()

    # app.py — embedded, the app runs its jobs; distributed, `v100 worker video_processing` does
    create_service_app(ServiceSpec(settings, ..., database=DATABASE,
                                   components=[running_jobs(tasks.jobs)]))

    # service.py — in the request's unit of work: sent after commit, never on rollback; by name,
    # so the service never imports its tasks (tasks.py imports the service)
    job_id = await enqueue(session, "video_processing.render_clip", clip.id,
                           tenant_id=clip.tenant_id)

Delivery is at least once: a job whose runner dies is run again, so tasks must be idempotent.
"""

from __future__ import annotations

from v100.kit.jobs._context import JobContext, PermanentJobError, current_job, report_progress
from v100.kit.jobs._enqueue import enqueue
from v100.kit.jobs._hooks import running_jobs
from v100.kit.jobs._queue import JobQueue, SweepReport
from v100.kit.jobs._registry import JobFunction, JobRegistry, JobTask
from v100.kit.jobs._scheduler import JobScheduler
from v100.kit.jobs._table import (
    JOB_TABLE,
    JobRecord,
    JobStatus,
    abandoned,
    add_job_table,
    cancel_job,
    get_job,
)
from v100.kit.jobs._worker import run_worker

__all__ = [
    "JOB_TABLE",
    "JobContext",
    "JobFunction",
    "JobQueue",
    "JobRecord",
    "JobRegistry",
    "JobScheduler",
    "JobStatus",
    "JobTask",
    "PermanentJobError",
    "SweepReport",
    "abandoned",
    "add_job_table",
    "cancel_job",
    "current_job",
    "enqueue",
    "get_job",
    "report_progress",
    "run_worker",
    "running_jobs",
]

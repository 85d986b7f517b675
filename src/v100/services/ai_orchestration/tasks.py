"""ai_orchestration's background jobs (kit.jobs; state in this service's ``kit_jobs`` table):
a Training Sandbox run (retried on a dead worker or a vendor that did not answer; a refusal ends
it failed), and the minute sweep that fails any run whose queue job ended without settling it
(its last runner died), releasing its hold."""

from __future__ import annotations

from v100.kit.jobs import JobContext, JobRegistry, JobStatus, get_job
from v100.services.ai_orchestration import processing
from v100.services.ai_orchestration.repository import TestRunRepository
from v100.services.ai_orchestration.resources import RESOURCES

__all__ = ["jobs", "run_test", "settle_abandoned"]

jobs = JobRegistry("ai_orchestration")


# Three attempts of at most 30 minutes each (processing.TEST_RUN's hold outlives them).
@jobs.task(max_attempts=3, backoff=5.0, timeout=1800)
async def run_test(job: JobContext, run_id: str) -> None:
    resources = await RESOURCES.current()
    try:
        await processing.run_test(job, resources, run_id)
    except processing.TestRunFailed as exc:
        await processing.fail(job, resources, run_id, exc.slug, exc.detail)


@jobs.task(interval=60, max_attempts=1)
async def settle_abandoned(job: JobContext) -> None:
    """Fail the runs whose queue job failed or was cancelled without settling them."""
    resources = await RESOURCES.current()
    abandoned: list[tuple[str, str]] = []
    async with job.unit_of_work() as session:
        for row in await TestRunRepository(session).unsettled():
            assert row.job_id is not None
            record = await get_job(session, row.job_id)
            if record is None or record.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
                continue
            detail = f"The run stopped ({record.status}): {record.last_error or 'no reason'}"
            abandoned.append((row.id, detail))
    for run_id, detail in abandoned:
        await processing.fail(job, resources, run_id, "test-run-failed", detail)

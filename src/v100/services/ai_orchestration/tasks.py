"""ai_orchestration's background jobs (kit.jobs; state in this service's ``kit_jobs`` table):
a Training Sandbox run (retried on a dead worker or a vendor that did not answer; a refusal ends
it failed), and the minute sweep that fails any run whose queue job ended without settling it
(its last runner died), releasing its hold."""

from __future__ import annotations

from v100.kit.jobs import JobContext, JobRegistry, abandoned
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
    async with job.unit_of_work() as session:
        unsettled = await TestRunRepository(session).unsettled()
        rows = await abandoned(session, unsettled, "The run")
    for row, detail in rows:
        await processing.fail(job, resources, row.id, "test-run-failed", detail)

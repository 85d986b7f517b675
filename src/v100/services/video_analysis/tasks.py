"""video_analysis's background jobs (kit.jobs; state in this service's ``kit_jobs`` table):
running one analysis (retried on a dead worker or a passing failure, never on bad input; a
rerun skips the stages already stored), and the minute sweep that fails any analysis whose
queue job ended without settling it (its last runner died), releasing its credit hold. Clips
are video_processing's jobs (ADR 0060)."""

from __future__ import annotations

from v100 import media
from v100.kit.jobs import JobContext, JobRegistry, JobStatus, get_job
from v100.services.video_analysis import processing
from v100.services.video_analysis.repository import AnalysisRepository
from v100.services.video_analysis.resources import RESOURCES

__all__ = ["analyse", "jobs", "settle_abandoned"]

# The stages run FFmpeg: a process with an unusable one refuses to start.
jobs = JobRegistry("video_analysis", requires=[media.require_ffmpeg])


# Three attempts of at most 3 hours (credits.ANALYSE's holds outlive them).
@jobs.task(max_attempts=3, backoff=5.0, timeout=3 * 3600)
async def analyse(job: JobContext, analysis_id: str) -> None:
    await processing.analyse(job, await RESOURCES.current(), analysis_id)


@jobs.task(interval=60, max_attempts=1)
async def settle_abandoned(job: JobContext) -> None:
    """Fail the analyses whose queue job failed or was cancelled without settling them."""
    resources = await RESOURCES.current()
    abandoned: list[tuple[str, str]] = []
    async with job.unit_of_work() as session:
        for row in await AnalysisRepository(session).unsettled():
            assert row.job_id is not None
            record = await get_job(session, row.job_id)
            if record is None or record.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
                continue
            detail = f"The analysis stopped ({record.status}): {record.last_error or 'no reason'}"
            abandoned.append((row.id, detail))
    for analysis_id, detail in abandoned:
        await processing.fail(job, resources, analysis_id, "analysis-failed", detail)

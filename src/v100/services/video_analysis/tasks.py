"""video_analysis's background jobs (kit.jobs; state in this service's ``kit_jobs`` table):
running one analysis (retried on a dead worker or a passing failure, never on bad input; a
rerun skips the stages already stored), and the minute sweep that fails any analysis whose
queue job ended without settling it (its last runner died), releasing its credit hold. Clips
are video_processing's jobs (ADR 0060)."""

from __future__ import annotations

from v100 import media
from v100.kit.jobs import JobContext, JobRegistry, abandoned
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
    async with job.unit_of_work() as session:
        rows = await abandoned(
            session, await AnalysisRepository(session).unsettled(), "The analysis"
        )
    for row, detail in rows:
        await processing.fail(job, resources, row.id, "analysis-failed", detail)

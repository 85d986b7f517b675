"""media_processor's background jobs (kit.jobs; state in this service's ``kit_jobs`` table):
running a media job (retried on a dead worker or a passing failure, never on bad input), the
minute sweep that fails any media job whose queue job ended without settling it, and the sweep
that expires chunk assemblies left open past their time to live (dropping their parts)."""

from __future__ import annotations

from v100 import media
from v100.kit.jobs import JobContext, JobRegistry, abandoned
from v100.services.media_processor import credits, lifecycle, processing
from v100.services.media_processor.assembly import AssemblyService
from v100.services.media_processor.repository import JobRepository
from v100.services.media_processor.resources import RESOURCES

__all__ = ["expire_assemblies", "jobs", "run_media_job", "settle_abandoned"]

# The processing jobs run FFmpeg: a process with an unusable one refuses to start.
jobs = JobRegistry("media_processor", requires=[media.require_ffmpeg])


# Three attempts of at most 3 hours (credits.TRANSCODE's holds outlive them).
@jobs.task(max_attempts=3, backoff=5.0, timeout=3 * 3600)
async def run_media_job(job: JobContext, media_job_id: str) -> None:
    await processing.run_media_job(job, await RESOURCES.current(), media_job_id)


@jobs.task(interval=60, max_attempts=1)
async def settle_abandoned(job: JobContext) -> None:
    """Fail the media jobs whose queue job failed or was cancelled without settling them (its
    last runner died), releasing their credit holds."""

    resources = await RESOURCES.current()
    released: list[tuple[str, str, str]] = []
    async with job.unit_of_work() as session:
        unsettled = await JobRepository(session).unsettled()
        stopped = await abandoned(session, unsettled, "Processing")
        for row, detail in stopped:
            failed = await lifecycle.mark_failed(
                session, resources.bus, row.id, "processing-failed", detail
            )
            if failed is not None and failed.hold_id is not None:
                released.append((failed.tenant_id, failed.id, failed.hold_id))
    for tenant_id, media_job_id, hold_id in released:
        await credits.TRANSCODE.release(
            resources.billing, work_id=media_job_id, tenant_id=tenant_id, hold_id=hold_id
        )


@jobs.task(interval=300, max_attempts=1)
async def expire_assemblies(job: JobContext) -> None:
    """Expire the open chunk assemblies past their ``expires_at`` (settings.assembly_ttl_seconds
    after creation): marked ``expired``, their stored parts dropped."""

    resources = await RESOURCES.current()
    service = AssemblyService(
        job.sessions, resources.storage, ttl_seconds=resources.settings.assembly_ttl_seconds
    )
    await service.expire_due()

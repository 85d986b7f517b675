"""video_processing's background jobs (kit.jobs; state in this service's ``kit_jobs`` table):
processing a video, importing one from a URL, rendering a clip, deleting stored objects, and
the minute sweep that settles what a lost job left behind and expires abandoned uploads."""

from __future__ import annotations

from sqlalchemy import select

from v100 import media
from v100.kit.jobs import JobContext, JobRegistry, JobStatus, get_job
from v100.kit.observability import get_logger
from v100.services.video_processing import clipping, importing, lifecycle, processing
from v100.services.video_processing.credits import clip_holds, video_holds
from v100.services.video_processing.models import Clip, ClipStatus, Video, VideoStatus
from v100.services.video_processing.repository import ClipRepository, VideoRepository
from v100.services.video_processing.resources import RESOURCES
from v100.services.video_processing.uploads import TUS

__all__ = [
    "delete_objects",
    "import_video",
    "jobs",
    "process_video",
    "reconcile",
    "render_clip",
]

_log = get_logger("v100.video_processing.tasks")

# The processing jobs run FFmpeg: a process with an unusable one refuses to start.
jobs = JobRegistry("video_processing", requires=[media.require_ffmpeg])


@jobs.task(max_attempts=3, backoff=5.0, timeout=6 * 3600)
async def process_video(job: JobContext, video_id: str) -> None:
    await processing.process_video(job, await RESOURCES.current(), video_id)


@jobs.task(max_attempts=3, backoff=5.0, timeout=3 * 3600)
async def import_video(job: JobContext, video_id: str) -> None:
    await importing.import_video(job, await RESOURCES.current(), video_id)


@jobs.task(max_attempts=3, backoff=5.0, timeout=3600)
async def render_clip(job: JobContext, clip_id: str) -> None:
    await clipping.render_clip(job, await RESOURCES.current(), clip_id)


@jobs.task(max_attempts=5, backoff=10.0)
async def delete_objects(job: JobContext, prefixes: list[str], keys: list[str]) -> None:
    storage = (await RESOURCES.current()).storage
    for prefix in prefixes:
        async for info in storage.list(prefix):
            await storage.delete(info.key)
    for key in keys:
        await storage.delete(key)


@jobs.task(interval=60, max_attempts=1)
async def reconcile(job: JobContext) -> None:
    """Videos and clips whose job ended without settling them (a runner lost on its last
    attempt) end ``errored``, their credit holds released; abandoned tus uploads expire."""

    resources = await RESOURCES.current()
    ended = {JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.SUCCEEDED}
    released: list[tuple[str, str, str]] = []
    released_clips: list[tuple[str, str, str]] = []
    async with job.unit_of_work() as session:
        statement = select(Video.id, Video.job_id).where(Video.status == VideoStatus.PROCESSING)
        for video_id, job_id in (await session.execute(statement)).all():
            record = await get_job(session, job_id) if job_id else None
            if record is None or record.status not in ended:
                continue
            # Locked and read again: the job may have settled it since the list was read.
            video = await VideoRepository(session).locked(video_id)
            detail = (record.last_error or "processing stopped without a result")[:500]
            if (
                video is not None
                and lifecycle.video_errored(
                    session, resources.bus, video, "processing-failed", detail
                )
                and video.hold_id
            ):
                released.append((video.tenant_id, video.id, video.hold_id))
        statement = select(Clip.id, Clip.job_id).where(Clip.status == ClipStatus.PROCESSING)
        for clip_id, job_id in (await session.execute(statement)).all():
            record = await get_job(session, job_id) if job_id else None
            if record is None or record.status not in ended:
                continue
            clip = await ClipRepository(session).locked(clip_id)
            detail = (record.last_error or "rendering stopped without a result")[:500]
            if (
                clip is not None
                and lifecycle.clip_errored(
                    session, resources.bus, clip, "processing-failed", detail
                )
                and clip.hold_id
            ):
                released_clips.append((clip.tenant_id, clip.id, clip.hold_id))
    for holds, held in ((video_holds, released), (clip_holds, released_clips)):
        for tenant_id, work_id, hold_id in held:
            await holds(resources.settings).release(
                resources.billing, work_id=work_id, tenant_id=tenant_id, hold_id=hold_id
            )
    result = await TUS.uploads(job.sessions, resources.storage).sweep()
    if result.removed or result.finished or result.failed:
        _log.info(
            "tus sweep", removed=result.removed, finished=result.finished, failed=result.failed
        )

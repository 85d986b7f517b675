"""The import job of ``POST /v1/videos`` with ``input_url``: fetch the URL into storage through
``kit.fetch`` (http/https only, every address and every redirect checked against SSRF, size and
time bounded), then hand the video to processing. Refused URLs end the video ``errored``."""

from __future__ import annotations

from v100.kit.fetch import FetchPolicy, UrlFetchFailed, UrlNotAllowed, UrlTooLarge, fetch_to_store
from v100.kit.jobs import JobContext, PermanentJobError
from v100.services.video_processing.models import VideoStatus
from v100.services.video_processing.processing import fail_video, video_key
from v100.services.video_processing.repository import VideoRepository
from v100.services.video_processing.resources import Resources
from v100.services.video_processing.service import VideoService

__all__ = ["import_video"]


async def import_video(job: JobContext, resources: Resources, video_id: str) -> None:
    async with job.unit_of_work() as session:
        video = await VideoRepository(session).by_id(video_id)
        if video is None or video.status != VideoStatus.UPLOADING or not video.source_url:
            return
        url = video.source_url
    settings = resources.settings
    policy = FetchPolicy(
        max_bytes=settings.max_upload_bytes, allow_cidrs=tuple(settings.import_allow_cidrs)
    )
    key = video_key(video_id, "source")
    try:
        await fetch_to_store(url, resources.storage, key, policy)
    except (UrlNotAllowed, UrlTooLarge) as exc:
        await fail_video(job, resources, video_id, exc.slug, exc.detail or exc.title)
        raise PermanentJobError(exc.detail or exc.title) from exc
    except UrlFetchFailed as exc:
        if job.is_last_attempt:
            await fail_video(job, resources, video_id, exc.slug, exc.detail or exc.title)
        raise
    async with job.unit_of_work() as session:
        video = await VideoRepository(session).locked(video_id)
        if video is None:
            await resources.storage.delete(key)  # deleted while it was fetched
            return
        await VideoService(session, settings, resources.bus).source_stored(video, key)

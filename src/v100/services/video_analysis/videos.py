"""video_analysis's use of video_processing (``contracts/videos.py``, scope ``service:videos``):
checking at once that a stored video can be analysed (the POST's 404 or 409), and fetching its
MP4 rendition (picture and sound) into this service's storage for the job, once: a rerun finds
it stored."""

from __future__ import annotations

import httpx

from v100.contracts.video_refusals import as_problem
from v100.contracts.videos import (
    VideoHasNoPicture,
    VideoMissing,
    VideoNotReady,
    VideoPicture,
    VideosClient,
    VideosError,
    connect_videos,
)
from v100.kit.errors import UpstreamUnavailable
from v100.kit.jobs import JobContext
from v100.services.video_analysis.errors import AnalysisFailed
from v100.services.video_analysis.models import Analysis
from v100.services.video_analysis.resources import Resources
from v100.services.video_analysis.settings import VideoAnalysisSettings

__all__ = ["check_video", "connected", "fetch_video"]

_UNREACHABLE = (UpstreamUnavailable, VideosError, httpx.HTTPError)


def connected(settings: VideoAnalysisSettings) -> VideosClient:
    """video_processing's client for one piece of work (``async with``: closed after it)."""
    return connect_videos(settings.video_processing_url, settings.platform)


async def check_video(
    settings: VideoAnalysisSettings, tenant_id: str, video_id: str
) -> VideoPicture:
    """The tenant's video exists, is ready and has a picture; else the POST's problem."""
    async with connected(settings) as videos:
        try:
            return await videos.picture(tenant_id, video_id)
        except VideosError as exc:
            raise as_problem(exc, video_id) from exc


def _detail(exc: VideosError, default: str) -> str:
    return str(exc.problem.get("detail") or default)


async def fetch_video(job: JobContext, resources: Resources, row: Analysis, key: str) -> None:
    """The video's MP4 streamed into storage under ``key``. A video deleted since the POST
    fails the analysis ``video-deleted``; video_processing unreachable is retried, and on the
    job's last attempt fails it ``video-unavailable``."""
    try:
        async with (
            connected(resources.settings) as videos,
            videos.picture_content(row.tenant_id, row.video_id) as chunks,
        ):
            await resources.storage.put(key, chunks, "video/mp4")
    except VideoMissing as exc:
        raise AnalysisFailed(
            "video-deleted", f"video {row.video_id} was deleted before it was analysed"
        ) from exc
    except (VideoNotReady, VideoHasNoPicture) as exc:
        raise AnalysisFailed("video-unavailable", _detail(exc, "the video changed")) from exc
    except _UNREACHABLE as exc:
        await resources.storage.delete(key)  # a partial copy, if any
        if job.is_last_attempt:
            raise AnalysisFailed(
                "video-unavailable", f"video {row.video_id} could not be read ({exc!r:.100})"
            ) from exc
        raise

"""transcription's use of video_processing (``contracts/videos.py``, scope ``service:videos``):
checking at once that a stored video can be transcribed (the POST's 404 or 409), fetching the
video's audio into this service's storage for the job (once: a rerun finds it stored), and
attaching the captions of an automatic transcript to its video."""

from __future__ import annotations

import httpx

from v100.contracts.transcripts import TranscriptDocument
from v100.contracts.video_refusals import as_problem
from v100.contracts.videos import (
    CaptionTrackIn,
    CaptionTrackInfo,
    VideoHasNoAudio,
    VideoMissing,
    VideoNotReady,
    VideosClient,
    VideosError,
    connect_videos,
)
from v100.kit.errors import UpstreamUnavailable
from v100.kit.jobs import JobContext
from v100.services.transcription.errors import TranscriptFailed
from v100.services.transcription.models import Transcript
from v100.services.transcription.resources import Resources
from v100.services.transcription.settings import TranscriptionSettings

__all__ = ["attach_captions", "check_video", "fetch_audio"]

# video_processing answered, but not with the video (another failure than the ones above).
_UNREACHABLE = (UpstreamUnavailable, VideosError, httpx.HTTPError)


def _connected(settings: TranscriptionSettings) -> VideosClient:
    """video_processing's client for one piece of work (``async with``: closed after it)."""
    return connect_videos(settings.video_processing_url, settings.platform)


async def check_video(settings: TranscriptionSettings, tenant_id: str, video_id: str) -> None:
    """The tenant's video exists, is ready and has audio; else the POST's problem."""
    async with _connected(settings) as videos:
        try:
            await videos.audio(tenant_id, video_id)
        except VideosError as exc:
            raise as_problem(exc, video_id) from exc


async def fetch_audio(job: JobContext, resources: Resources, row: Transcript, key: str) -> None:
    """The video's audio streamed into storage under ``key``. A video deleted since the POST
    fails the transcript ``video-deleted``; video_processing unreachable is retried, and on the
    job's last attempt fails it ``video-unavailable``."""
    video_id = row.source_video_id
    assert video_id is not None
    try:
        async with (
            _connected(resources.settings) as videos,
            videos.audio_content(row.tenant_id, video_id) as chunks,
        ):
            await resources.storage.put(key, chunks, "audio/mp4")
    except VideoMissing as exc:
        raise TranscriptFailed(
            "video-deleted", f"video {video_id} was deleted before it was transcribed"
        ) from exc
    except VideoHasNoAudio as exc:
        detail = f"video {video_id} has no audio track"
        raise TranscriptFailed("source-unsupported", detail) from exc
    except VideoNotReady as exc:
        raise TranscriptFailed("video-not-ready", f"video {video_id} is not ready") from exc
    except _UNREACHABLE as exc:
        await resources.storage.delete(key)  # a partial copy, if any
        if job.is_last_attempt:
            raise TranscriptFailed(
                "video-unavailable", f"video {video_id}'s audio could not be read ({exc!r:.100})"
            ) from exc
        raise


async def attach_captions(
    settings: TranscriptionSettings, row: Transcript, language: str
) -> CaptionTrackInfo | None:
    """The transcript's captions attached to its video in ``language``; None when the video
    has been deleted meanwhile. video_processing unreachable raises (the job retries)."""
    assert row.source_video_id is not None
    assert row.document is not None
    track = CaptionTrackIn(
        transcript_id=row.id, document=TranscriptDocument.model_validate(row.document)
    )
    async with _connected(settings) as videos:
        try:
            return await videos.put_captions(row.tenant_id, row.source_video_id, language, track)
        except VideoMissing:
            return None

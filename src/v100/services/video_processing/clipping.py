"""The clip job: cut one time range of a ready video with ``media.cut_clip`` (frame-accurate
re-encode, or a fast keyframe stream copy), fitted to a platform's spec when one is named,
stored as ``clips/<id>.mp4``. Clips are cut from the video's MP4 rendition (already normalized
and trimmed as the video asked), or from its source for audio-only videos."""

from __future__ import annotations

import tempfile
from pathlib import Path

from v100 import media
from v100.kit.jobs import JobContext, PermanentJobError
from v100.kit.observability import get_logger
from v100.services.video_processing import lifecycle
from v100.services.video_processing.models import ClipMode, ClipStatus, VideoStatus
from v100.services.video_processing.pipeline import media_error_type
from v100.services.video_processing.repository import (
    ClipRepository,
    RenditionRepository,
    VideoRepository,
)
from v100.services.video_processing.resources import Resources

__all__ = ["clip_key", "render_clip"]

_log = get_logger("v100.video_processing.clips")


def clip_key(clip_id: str) -> str:
    return f"clips/{clip_id}.mp4"


async def render_clip(job: JobContext, resources: Resources, clip_id: str) -> None:
    async with job.unit_of_work() as session:
        clip = await ClipRepository(session).locked(clip_id)
        if clip is None or clip.status != ClipStatus.PROCESSING:
            return
        video = await VideoRepository(session).by_id(clip.video_id)
        if video is None or video.status != VideoStatus.READY:
            lifecycle.clip_errored(
                session, resources.bus, clip, "video-not-ready", "the video is not ready"
            )
            return
        mp4 = await RenditionRepository(session).named(video.id, "mp4")
        source_key = mp4.key if mp4 is not None else video.source_key
        start, end, mode, platform = clip.start, clip.end, clip.mode, clip.platform
    if source_key is None:
        await _fail(job, resources, clip_id, "source-missing", "the video has no stored source")
        return
    spec = media.PLATFORM_SPECS[platform] if platform else None
    try:
        with tempfile.TemporaryDirectory(prefix=f"v100-clip-{clip_id}-") as scratch:
            work = Path(scratch)
            source = work / "source"
            with source.open("wb") as out:
                async for chunk in resources.storage.open(source_key):
                    out.write(chunk)
            info = await media.probe(source)
            dst = work / "clip.mp4"

            async def on_progress(progress: media.Progress) -> None:
                if progress.percent is not None:
                    await job.report_progress(min(99, progress.percent))

            await media.cut_clip(
                source, dst, info, start=start, end=end, spec=spec,
                mode="fast" if mode == ClipMode.FAST else "accurate",
                on_progress=on_progress,
            )  # fmt: skip
            out_info = await media.probe(dst)
            key = clip_key(clip_id)
            await resources.storage.put(key, dst.read_bytes(), "video/mp4")
            size = dst.stat().st_size
    except media.MediaError as exc:
        await _fail(job, resources, clip_id, media_error_type(exc), exc.reason)
        raise PermanentJobError(exc.reason) from exc
    except Exception as exc:
        if job.is_last_attempt:
            await _fail(job, resources, clip_id, "processing-failed", repr(exc)[:500])
        raise
    async with job.unit_of_work() as session:
        clip = await ClipRepository(session).locked(clip_id)
        if clip is None or clip.status != ClipStatus.PROCESSING:
            return
        clip.key = key
        clip.size = size
        clip.duration = round(out_info.duration, 3)
        if out_info.video is not None:
            clip.width, clip.height = out_info.video.display_width, out_info.video.display_height
        lifecycle.clip_ready(session, resources.bus, clip)


async def _fail(
    job: JobContext, resources: Resources, clip_id: str, error_type: str, detail: str
) -> None:
    async with job.unit_of_work() as session:
        clip = await ClipRepository(session).locked(clip_id)
        if clip is not None:
            lifecycle.clip_errored(session, resources.bus, clip, error_type, detail)
    _log.info("clip errored", clip_id=clip_id, error_type=error_type)

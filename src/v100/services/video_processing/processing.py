"""The processing job of one video: fetch the source from storage into a scratch directory,
probe it, hold credits, then make each output (HLS ladder, MP4, M4A, poster, storyboard) with
``v100.media``, store it and record its rendition. A retried job (a worker killed mid-encode)
skips the outputs already recorded, so it finishes what is missing and charges once."""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from v100 import media
from v100.contracts.credit_holds import credits_per_started_minute
from v100.contracts.events import VideoProgress, publish_video_progress
from v100.kit.jobs import JobContext, PermanentJobError
from v100.kit.observability import get_logger
from v100.media.jobs import download, upload
from v100.services.video_processing import lifecycle
from v100.services.video_processing.credits import reserve, video_holds
from v100.services.video_processing.errors import MEDIA_ERRORS, ProcessingFailed
from v100.services.video_processing.models import RenditionKind, VideoStatus
from v100.services.video_processing.outputs import (
    VideoJob,
    content_type,
    make_hls,
    store,
    video_key,
)
from v100.services.video_processing.repository import VideoRepository
from v100.services.video_processing.resources import Resources

__all__ = [
    "ProcessingFailed",
    "content_type",
    "fail_video",
    "process_video",
    "video_key",
]

_log = get_logger("v100.video_processing.processing")

# Share of the progress bar each stage takes (they add up to 100).
_WEIGHTS = {
    "download": 4,
    "probe": 1,
    "prepare": 10,
    "hls": 50,
    "mp4": 22,
    "m4a": 4,
    "poster": 2,
    "storyboard": 5,
    "finish": 2,
}


class _Progress:
    """Stage-weighted percent, written to the job row, the video row (throttled) and the bus."""

    def __init__(self, job: JobContext, resources: Resources, video: VideoJob) -> None:
        self.job = job
        self.resources = resources
        self.video = video
        self.base = 0.0
        self.stage = "download"
        self.percent = 0
        self._written_at = 0.0

    def begin(self, stage: str) -> None:
        self.stage = stage

    async def within(self, fraction: float) -> None:
        share = _WEIGHTS.get(self.stage, 0)
        await self._report(self.base + share * max(0.0, min(1.0, fraction)))

    async def end(self, stage: str) -> None:
        self.base += _WEIGHTS.get(stage, 0)
        await self._report(self.base)

    def ffmpeg(self) -> Callable[[media.Progress], Awaitable[None]]:
        async def on_progress(progress: media.Progress) -> None:
            if progress.percent is not None:
                await self.within(progress.percent / 100)

        return on_progress

    async def _report(self, value: float) -> None:
        percent = max(0, min(99, int(value)))  # 100 only with ready
        if percent <= self.percent:
            return
        self.percent = percent
        await self.job.report_progress(percent)
        await publish_video_progress(
            self.resources.bus,
            VideoProgress(
                tenant_id=self.video.tenant_id, id=self.video.id, percent=percent, stage=self.stage
            ),
        )
        now = time.monotonic()
        if now - self._written_at >= 1.0:
            self._written_at = now
            async with self.job.unit_of_work() as session:
                row = await VideoRepository(session).by_id(self.video.id)
                if row is not None and row.status == VideoStatus.PROCESSING:
                    row.progress = percent


async def _load(job: JobContext, video_id: str) -> VideoJob | None:
    async with job.unit_of_work() as session:
        video = await VideoRepository(session).by_id(video_id)
        if video is None or video.status != VideoStatus.PROCESSING or not video.source_key:
            return None  # deleted, or settled by an earlier run
        return VideoJob(
            id=video.id,
            tenant_id=video.tenant_id,
            source_key=video.source_key,
            normalize_audio=video.normalize_audio,
            auto_trim=video.auto_trim,
            max_resolution=video.max_resolution,
            hold_id=video.hold_id,
            created_at=video.created_at,
            done={r.name for r in video.renditions},
        )


async def process_video(job: JobContext, resources: Resources, video_id: str) -> None:
    """The job body (tasks.process_video). Media failures end the video ``errored`` at once;
    other failures are retried, and the last one ends it ``errored`` too."""
    snapshot = await _load(job, video_id)
    if snapshot is None:
        return
    try:
        with tempfile.TemporaryDirectory(prefix=f"v100-video-{video_id}-") as scratch:
            await _process(job, resources, snapshot, Path(scratch))
    except media.MediaError as exc:
        await fail_video(job, resources, video_id, MEDIA_ERRORS.code(exc), exc.reason)
        raise PermanentJobError(exc.reason) from exc
    except ProcessingFailed as exc:
        await fail_video(job, resources, video_id, exc.error_type, exc.detail)
        raise PermanentJobError(exc.detail) from exc
    except Exception as exc:
        if job.is_last_attempt:
            await fail_video(
                job, resources, video_id, "processing-failed", f"Processing failed: {exc!r}"[:500]
            )
        raise


async def _process(job: JobContext, resources: Resources, video: VideoJob, scratch: Path) -> None:
    settings = resources.settings
    storage = resources.storage
    progress = _Progress(job, resources, video)

    progress.begin("download")
    source = scratch / "source"
    await download(storage, video.source_key, source, progress.within)
    await progress.end("download")

    progress.begin("probe")
    info = await media.probe(source)
    _check_limits(info, resources)
    await _record_probe(job, video.id, info)
    await progress.end("probe")

    progress.begin("prepare")
    source, info = await _prepare(job, video, source, info, scratch, progress)
    await progress.end("prepare")

    amount = credits_per_started_minute(info.duration, settings.credits_per_minute)
    hold_id = await reserve(job, resources, video, amount)

    outputs = scratch / "out"
    outputs.mkdir()
    has_video = info.video is not None
    if has_video:
        progress.begin("hls")
        if "master" not in video.done:
            await make_hls(job, resources, video, source, info, outputs / "hls", progress.ffmpeg())
        await progress.end("hls")
        progress.begin("mp4")
        if "mp4" not in video.done:
            dst = outputs / "video.mp4"
            await media.encode_mp4(
                source, dst, info, max_height=video.max_resolution, on_progress=progress.ffmpeg()
            )
            out = await media.probe(dst)
            await store(job, resources, video, RenditionKind.MP4, "mp4", dst, "video.mp4", out)
        await progress.end("mp4")
    if info.audio is not None:
        progress.begin("m4a")
        if "m4a" not in video.done:
            dst = outputs / "audio.m4a"
            await media.extract_audio(source, dst, info, on_progress=progress.ffmpeg())
            out = await media.probe(dst)
            await store(job, resources, video, RenditionKind.M4A, "m4a", dst, "audio.m4a", out)
        await progress.end("m4a")
    if has_video:
        progress.begin("poster")
        if "poster" not in video.done:
            dst = outputs / "poster.jpg"
            await media.poster(source, dst, info)
            await store(job, resources, video, RenditionKind.POSTER, "poster", dst, "poster.jpg")
        await progress.end("poster")
        progress.begin("storyboard")
        if "storyboard" not in video.done:
            board = await media.storyboard(source, outputs / "storyboard", info)
            for sprite in board.sprites:
                sprite_key = video_key(video.id, f"storyboard/{sprite.name}")
                await upload(storage, sprite, sprite_key, content_type(sprite.name))
            vtt_key = video_key(video.id, "storyboard/storyboard.vtt")
            await upload(storage, board.vtt, vtt_key, content_type(board.vtt.name))
            await store(
                job, resources, video, RenditionKind.STORYBOARD, "storyboard",
                board.sprites[0], f"storyboard/{board.sprites[0].name}",
                extra={
                    "vtt_key": vtt_key,
                    "sprites": [s.name for s in board.sprites],
                    "interval": board.interval,
                    "tiles": board.tiles,
                    "columns": board.columns,
                    "tile_width": board.tile_width,
                    "tile_height": board.tile_height,
                },
            )  # fmt: skip
        await progress.end("storyboard")

    progress.begin("finish")
    await _finish(job, resources, video, hold_id, amount)


def _check_limits(info: media.MediaInfo, resources: Resources) -> None:
    settings = resources.settings
    if info.duration > settings.max_source_seconds:
        raise ProcessingFailed(
            "input-too-long",
            f"the file lasts {info.duration:.0f} s; at most {settings.max_source_seconds:.0f} s "
            "are accepted",
        )
    try:
        media.check_picture(
            info, max_width=settings.max_source_width, max_height=settings.max_source_height
        )
    except media.MediaTooLarge as exc:
        raise ProcessingFailed("input-too-large", str(exc)) from exc


def _aspect_ratio(info: media.MediaInfo) -> str | None:
    if info.video is None:
        return None
    width, height = info.video.display_width, info.video.display_height
    divisor = math.gcd(width, height) or 1
    return f"{width // divisor}:{height // divisor}"


async def _record_probe(job: JobContext, video_id: str, info: media.MediaInfo) -> None:
    async with job.unit_of_work() as session:
        video = await VideoRepository(session).by_id(video_id)
        if video is not None:
            video.media_info = info.as_dict()
            video.duration = round(info.duration, 3)
            video.aspect_ratio = _aspect_ratio(info)


async def _prepare(
    job: JobContext,
    video: VideoJob,
    source: Path,
    info: media.MediaInfo,
    scratch: Path,
    progress: _Progress,
) -> tuple[Path, media.MediaInfo]:
    """Auto-trim and loudness normalization, when asked, make the source every output is cut
    from; the probe of the result is what the outputs (and the bill) are measured on."""
    if video.auto_trim:
        trim = await media.detect_trim(source, info)
        if trim.start > 0.05 or trim.end < info.duration - 0.05:
            trimmed = scratch / "trimmed.mp4"
            await media.cut_clip(
                source, trimmed, info, start=trim.start, end=trim.end, mode="accurate"
            )
            source, info = trimmed, await media.probe(trimmed)
        async with job.unit_of_work() as session:
            row = await VideoRepository(session).by_id(video.id)
            if row is not None:
                row.trim_start, row.trim_end = round(trim.start, 3), round(trim.end, 3)
                row.duration = round(info.duration, 3)
        await progress.within(0.5)
    if video.normalize_audio and info.audio is not None:
        # Matroska takes whatever picture codec the source has (copied untouched).
        normalized = scratch / "normalized.mkv"
        await media.normalize_loudness(source, normalized, info)
        source, info = normalized, await media.probe(normalized)
    return source, info


async def _finish(
    job: JobContext, resources: Resources, snapshot: VideoJob, hold_id: str | None, amount: int
) -> None:
    """Capture the hold, then ready."""
    charged = await video_holds(resources.settings).capture(
        resources.billing, work_id=snapshot.id, tenant_id=snapshot.tenant_id, hold_id=hold_id,
        amount=amount,
    )  # fmt: skip
    async with job.unit_of_work() as session:
        video = await VideoRepository(session).locked(snapshot.id)
        if video is None or video.status != VideoStatus.PROCESSING:
            return
        video.credits_charged = charged
        await session.refresh(video, ["renditions"])
        lifecycle.video_ready(session, resources.bus, video)


async def fail_video(
    job: JobContext, resources: Resources, video_id: str, error_type: str, detail: str
) -> None:
    """-> errored, and the hold released: failed work costs nothing."""
    hold_id = None
    tenant_id = None
    async with job.unit_of_work() as session:
        video = await VideoRepository(session).locked(video_id)
        if video is None:
            return
        hold_id, tenant_id = video.hold_id, video.tenant_id
        lifecycle.video_errored(session, resources.bus, video, error_type, detail)
    _log.info("video errored", video_id=video_id, error_type=error_type, detail=detail[:200])
    if hold_id is not None and tenant_id is not None:
        await video_holds(resources.settings).release(
            resources.billing, work_id=video_id, tenant_id=tenant_id, hold_id=hold_id
        )

"""The clip job: hold credits for the clip's minutes, cut one time range of a ready video with
``media.cut_clip`` (frame-accurate re-encode, or a fast keyframe stream copy), fitted to a
platform's spec when one is named, or, for a smart clip (an analysis's highlight, ADR 0060),
render it with ``media.clip_render`` (the analysis's crop plan, the platform's frame,
auto-trim, the range's words burnt in); stored as ``clips/<id>.mp4``, then capture the hold.
Clips are cut from the video's MP4 rendition (already normalized and trimmed as the video
asked), or from its source for audio-only videos. Every billing request is keyed by the clip:
a retry is charged once; a failed clip releases its hold."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from v100 import media
from v100.contracts.credit_holds import credits_per_started_minute
from v100.contracts.transcripts import TranscriptDocument
from v100.kit.jobs import JobContext, PermanentJobError
from v100.kit.observability import get_logger
from v100.media.clip_render import render_clip as render_smart_clip
from v100.media.jobs import download, upload
from v100.media.mp4 import spec_duration
from v100.media.platforms import CLIP_SPECS
from v100.media.smart_crop import crop_from_dict
from v100.services.video_processing import lifecycle
from v100.services.video_processing.credits import clip_holds
from v100.services.video_processing.errors import MEDIA_ERRORS, ProcessingFailed
from v100.services.video_processing.models import ClipMode, ClipStatus, VideoStatus
from v100.services.video_processing.repository import (
    ClipRepository,
    RenditionRepository,
    VideoRepository,
)
from v100.services.video_processing.resources import Resources

__all__ = ["billed_seconds", "clip_key", "fail_clip", "render_clip"]

_log = get_logger("v100.video_processing.clips")


def clip_key(clip_id: str) -> str:
    return f"clips/{clip_id}.mp4"


def clip_spec(mode: str, platform: str | None) -> media.PlatformSpec | None:
    """The spec a clip is fitted to: a smart clip's short-form platform (``CLIP_SPECS``), a cut's
    upload spec (``PLATFORM_SPECS``), or none."""
    if platform is None:
        return None
    return CLIP_SPECS[platform] if mode == ClipMode.SMART else media.PLATFORM_SPECS[platform]


def billed_seconds(
    start: float, end: float, duration: float | None, spec: media.PlatformSpec | None
) -> float:
    """The seconds of output a clip is charged for: its range, clamped to the video and to the
    platform's longest clip (as ``media.cut_clip`` clamps it). A fast clip's lead-in from the
    keyframe before ``start`` is not counted: the caller asked for ``start``."""
    if duration is not None:
        end = min(end, duration)
    if spec is not None:
        end = min(end, start + spec_duration(spec))
    return max(0.0, end - start)


@dataclass
class _ClipJob:
    id: str
    tenant_id: str
    created_at: datetime
    source_key: str | None
    start: float
    end: float
    mode: str
    platform: str | None
    hold_id: str | None
    amount: int
    plan: dict[str, Any] | None


async def render_clip(job: JobContext, resources: Resources, clip_id: str) -> None:
    """The job body (tasks.render_clip). Bad media and refused credits end the clip ``errored``
    at once; other failures are retried, and the last one ends it ``errored`` too."""
    snapshot = await _load(job, resources, clip_id)
    if snapshot is None:
        return
    try:
        await _render(job, resources, snapshot)
    except media.MediaError as exc:
        await fail_clip(job, resources, clip_id, MEDIA_ERRORS.code(exc), exc.reason)
        raise PermanentJobError(exc.reason) from exc
    except ProcessingFailed as exc:
        await fail_clip(job, resources, clip_id, exc.error_type, exc.detail)
        raise PermanentJobError(exc.detail) from exc
    except Exception as exc:
        if job.is_last_attempt:
            await fail_clip(job, resources, clip_id, "processing-failed", repr(exc)[:500])
        raise


async def _load(job: JobContext, resources: Resources, clip_id: str) -> _ClipJob | None:
    async with job.unit_of_work() as session:
        clip = await ClipRepository(session).locked(clip_id)
        if clip is None or clip.status != ClipStatus.PROCESSING:
            return None  # deleted, or settled by an earlier run
        video = await VideoRepository(session).by_id(clip.video_id)
        if video is None or video.status != VideoStatus.READY:
            lifecycle.clip_errored(
                session, resources.bus, clip, "video-not-ready", "the video is not ready"
            )
            return None
        mp4 = await RenditionRepository(session).named(video.id, "mp4")
        spec = clip_spec(clip.mode, clip.platform)
        seconds = billed_seconds(clip.start, clip.end, video.duration, spec)
        return _ClipJob(
            id=clip.id,
            tenant_id=clip.tenant_id,
            created_at=clip.created_at,
            source_key=mp4.key if mp4 is not None else video.source_key,
            start=clip.start,
            end=clip.end,
            mode=clip.mode,
            platform=clip.platform,
            hold_id=clip.hold_id,
            amount=credits_per_started_minute(seconds, resources.settings.clip_credits_per_minute),
            plan=clip.plan,
        )


async def _render(job: JobContext, resources: Resources, clip: _ClipJob) -> None:
    if clip.source_key is None:
        raise ProcessingFailed("source-missing", "the video has no stored source")
    settings = resources.settings
    # Before any work: a retry sends the same request and gets the same hold.
    holds = clip_holds(settings)
    hold_id = await holds.reserve(
        resources.billing, work_id=clip.id, tenant_id=clip.tenant_id,
        created_at=clip.created_at, amount=clip.amount, last_attempt=job.is_last_attempt,
    )  # fmt: skip
    if hold_id is not None and hold_id != clip.hold_id:
        async with job.unit_of_work() as session:
            row = await ClipRepository(session).locked(clip.id)
            if row is not None:
                row.hold_id = hold_id
    spec = clip_spec(clip.mode, clip.platform)
    rendered: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix=f"v100-clip-{clip.id}-") as scratch:
        work = Path(scratch)
        source = work / "source"
        await download(resources.storage, clip.source_key, source)
        info = await media.probe(source)
        dst = work / "clip.mp4"

        async def on_progress(progress: media.Progress) -> None:
            if progress.percent is not None:
                await job.report_progress(min(99, progress.percent))

        if clip.mode == ClipMode.SMART and clip.plan is not None and spec is not None:
            words = clip.plan.get("transcript")
            smart = await render_smart_clip(
                source, dst, info, start=clip.start, end=clip.end,
                crop=crop_from_dict(clip.plan["crop"]), spec=spec,
                transcript=TranscriptDocument.model_validate(words) if words else None,
                preset=settings.clip_preset, on_progress=on_progress,
            )  # fmt: skip
            start, end = smart.start, smart.end
            rendered = {
                "rendered_start": round(start, 3), "rendered_end": round(end, 3),
                "caption_cues": smart.captions if clip.plan.get("captions") else None,
            }  # fmt: skip
        else:
            cut = await media.cut_clip(
                source, dst, info, start=clip.start, end=clip.end, spec=spec,
                mode="fast" if clip.mode == ClipMode.FAST else "accurate",
                on_progress=on_progress,
            )  # fmt: skip
            start, end = cut.start, cut.end
        out_info = await media.probe(dst)
        key = clip_key(clip.id)
        size = (await upload(resources.storage, dst, key, "video/mp4")).size
    # What was delivered of the range asked for, never more than was held.
    delivered = max(0.0, end - max(start, clip.start))
    delivered_credits = credits_per_started_minute(delivered, settings.clip_credits_per_minute)
    amount = min(clip.amount, delivered_credits)
    charged = await holds.capture(
        resources.billing, work_id=clip.id, tenant_id=clip.tenant_id, hold_id=hold_id,
        amount=amount,
    )  # fmt: skip
    async with job.unit_of_work() as session:
        row = await ClipRepository(session).locked(clip.id)
        if row is None or row.status != ClipStatus.PROCESSING:
            return
        row.key = key
        row.size = size
        row.duration = round(out_info.duration, 3)
        row.credits_charged = charged
        for name, value in rendered.items():
            setattr(row, name, value)
        if out_info.video is not None:
            row.width, row.height = out_info.video.display_width, out_info.video.display_height
        lifecycle.clip_ready(session, resources.bus, row)


async def fail_clip(
    job: JobContext, resources: Resources, clip_id: str, error_type: str, detail: str
) -> None:
    """-> errored, and the hold released: a failed clip costs nothing."""
    hold_id = tenant_id = None
    async with job.unit_of_work() as session:
        clip = await ClipRepository(session).locked(clip_id)
        if clip is None:
            return
        hold_id, tenant_id = clip.hold_id, clip.tenant_id
        lifecycle.clip_errored(session, resources.bus, clip, error_type, detail)
    _log.info("clip errored", clip_id=clip_id, error_type=error_type)
    if hold_id is not None and tenant_id is not None:
        await clip_holds(resources.settings).release(
            resources.billing, work_id=clip_id, tenant_id=tenant_id, hold_id=hold_id
        )

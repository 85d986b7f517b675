"""Rendering one clip (its job): queued (or rendering, on a rerun) -> rendering -> ready |
failed. The video's MP4 is fetched again from video_processing (an analysis keeps no copy),
credits are held per started minute of the highlight, the crop is planned from the analysis's
face tracks, active-speaker turns and scene cuts (``media.smart_crop``), and the range is
rendered for the platform with the transcript's words burnt in when asked and known
(``media.clip_render``: auto-trimmed, the platform's frame and bitrate). The MP4 is stored,
the credits captured on the minutes rendered; bad input fails the clip (hold released), a
passing failure is retried."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from v100 import media
from v100.contracts.credit_holds import credits_per_started_minute
from v100.contracts.transcripts import TranscriptDocument
from v100.kit.db import utcnow
from v100.kit.jobs import JobContext, PermanentJobError
from v100.kit.observability import get_logger
from v100.media.clip_render import render_clip
from v100.media.jobs import download, upload
from v100.media.platforms import CLIP_SPECS
from v100.media.smart_crop import plan_crop
from v100.services.video_analysis import analysers, credits
from v100.services.video_analysis.errors import MEDIA_ERRORS, AnalysisFailed
from v100.services.video_analysis.models import Analysis, Clip, ClipStatus
from v100.services.video_analysis.repository import (
    AnalysisRepository,
    ClipRepository,
    StageResultRepository,
)
from v100.services.video_analysis.resources import Resources
from v100.services.video_analysis.service import analysis_prefix
from v100.services.video_analysis.videos import fetch_video

__all__ = ["fail", "render"]

_log = get_logger("v100.video_analysis.rendering")
_UNSETTLED = (ClipStatus.QUEUED, ClipStatus.RENDERING)


async def render(job: JobContext, resources: Resources, clip_id: str) -> None:
    async with job.unit_of_work() as session:
        clip = await ClipRepository(session).change(
            clip_id, expect_status=_UNSETTLED, status=ClipStatus.RENDERING
        )
        analysis = await AnalysisRepository(session).by_id(clip.analysis_id) if clip else None
        results = await StageResultRepository(session).of(clip.analysis_id) if clip else {}
    if clip is None or analysis is None:
        return  # settled by an earlier run, or deleted
    try:
        with tempfile.TemporaryDirectory(prefix=f"v100-clip-{clip.id}-") as scratch:
            await _render(job, resources, clip, analysis, results, Path(scratch))
    except media.MediaError as exc:
        if not (media.is_permanent(exc) or job.is_last_attempt):
            raise
        await fail(job, resources, clip.id, MEDIA_ERRORS.code(exc), exc.reason)
        raise PermanentJobError(exc.reason) from exc
    except AnalysisFailed as exc:
        await fail(job, resources, clip.id, exc.slug, exc.detail)
        raise PermanentJobError(str(exc)) from exc
    except Exception as exc:
        if job.is_last_attempt:
            detail = f"The clip failed after {job.attempt} attempts ({type(exc).__name__})."
            await fail(job, resources, clip.id, "clip-failed", detail)
        raise


async def _render(
    job: JobContext,
    resources: Resources,
    clip: Clip,
    analysis: Analysis,
    results: dict[str, dict[str, Any]],
    scratch: Path,
) -> None:
    prefix = f"{analysis_prefix(clip.tenant_id, analysis.id)}clips/{clip.id}"
    source, src, dst = f"{prefix}.source.mp4", scratch / "video.mp4", scratch / "clip.mp4"
    try:
        await fetch_video(job, resources, analysis, source)
        await download(resources.storage, source, src)
    finally:
        await resources.storage.delete(source)
    info = await media.probe(src)
    if info.video is None:
        raise media.UnsupportedMedia("the video has no picture")
    per_minute = resources.settings.clip_credits_per_minute
    amount = credits_per_started_minute(clip.end - clip.start, per_minute)
    hold_id = clip.hold_id or await credits.CLIP.reserve(
        resources.billing, work_id=clip.id, tenant_id=clip.tenant_id,
        created_at=clip.created_at, amount=amount, last_attempt=job.is_last_attempt,
    )  # fmt: skip
    if hold_id is not None and clip.hold_id is None:
        clip = await _change(job, clip.id, hold_id=hold_id)
    faces, speakers = results.get("faces"), results.get("speakers")
    crop = plan_crop(
        analysers.tracks(faces) if faces else [],
        width=info.video.display_width, height=info.video.display_height,
        aspect=clip.aspect, start=clip.start, end=clip.end,
        speakers=[(t["start"], t["end"], t["track_id"]) for t in speakers["turns"]]
        if speakers else None,
        cuts=[b["time"] for b in results["scenes"]["boundaries"]],
        frame_rate=info.video.frame_rate,
    )  # fmt: skip
    transcript = results.get("transcript") if clip.captions else None
    document = TranscriptDocument.model_validate(transcript["document"]) if transcript else None
    rendered = await render_clip(
        src, dst, info, start=clip.start, end=clip.end, crop=crop,
        spec=CLIP_SPECS[clip.platform], transcript=document,
        preset=resources.settings.clip_preset,
    )  # fmt: skip
    stored = await upload(resources.storage, dst, f"{prefix}.mp4", "video/mp4")
    charged = await credits.CLIP.capture(
        resources.billing, work_id=clip.id, tenant_id=clip.tenant_id, hold_id=hold_id,
        amount=credits_per_started_minute(rendered.duration, per_minute),
    )  # fmt: skip
    await _change(
        job, clip.id, status=ClipStatus.READY, key=stored.key, size=stored.size,
        rendered_start=round(rendered.start, 3), rendered_end=round(rendered.end, 3),
        width=rendered.width, height=rendered.height,
        caption_cues=rendered.captions if clip.captions else None,
        credits_charged=charged, completed_at=utcnow(),
    )  # fmt: skip
    _log.info("clip ready", clip_id=clip.id, seconds=round(rendered.duration, 2))


async def _change(job: JobContext, clip_id: str, **values: Any) -> Clip:
    async with job.unit_of_work() as session:
        changed = await ClipRepository(session).change(
            clip_id, expect_status=ClipStatus.RENDERING, **values
        )
    if changed is None:
        raise AnalysisFailed("clip-failed", "the clip was deleted while it rendered")
    return changed


async def fail(job: JobContext, resources: Resources, clip_id: str, slug: str, detail: str) -> None:
    """-> failed, its hold released (failed work costs nothing)."""
    async with job.unit_of_work() as session:
        failed = await ClipRepository(session).change(
            clip_id, expect_status=_UNSETTLED, status=ClipStatus.FAILED, error=slug,
            error_detail=detail[:500], completed_at=utcnow(),
        )  # fmt: skip
    _log.info("clip failed", clip_id=clip_id, error=slug, detail=detail[:200])
    if failed is not None and failed.hold_id is not None:
        await credits.CLIP.release(
            resources.billing, work_id=failed.id, tenant_id=failed.tenant_id,
            hold_id=failed.hold_id,
        )  # fmt: skip

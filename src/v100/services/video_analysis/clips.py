"""Clips of an analysis's highlights, rendered by video_processing (ADR 0060): the highlights
are chosen here (by id or the best ``count``; the highlights stage must have finished), each
gets a crop plan from the analysis's face tracks, active-speaker turns and scene cuts
(``media.smart_crop``) and, with captions, the range's words, and is handed over through
``contracts.videos`` (``POST /v1/videos/{id}/analysis-clips``), where it becomes the video's
highlight and a clip with one credit flow, one render job and ``clip.ready``. This service keeps
no clip rows: its clip routes read video_processing's. No HTTP objects."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from v100.contracts.transcripts import TranscriptDocument
from v100.contracts.videos import (
    ClipInfo,
    SmartClipIn,
    SmartClipsIn,
    VideoHasNoPicture,
    VideoMissing,
    VideoNotReady,
    VideosClient,
    VideosError,
)
from v100.kit.errors import UpstreamUnavailable
from v100.media.captions import clip_document
from v100.media.smart_crop import crop_to_dict, plan_crop
from v100.services.video_analysis import analysers, errors
from v100.services.video_analysis.errors import ClipNotFound, HighlightNotFound
from v100.services.video_analysis.models import Analysis
from v100.services.video_analysis.service import AnalysisService
from v100.services.video_analysis.settings import VideoAnalysisSettings
from v100.services.video_analysis.videos import connected

__all__ = ["ClipService"]


class ClipService:
    def __init__(self, analyses: AnalysisService) -> None:
        self.analyses = analyses
        self.settings = analyses.settings

    async def create(
        self,
        tenant_id: str,
        analysis_id: str,
        *,
        highlight_ids: Sequence[str] | None,
        count: int | None,
        aspect: str,
        platform: str,
        captions: bool,
        key: str,
    ) -> list[ClipInfo]:
        """A queued clip per highlight chosen (404 for an id the analysis has not; 409 while
        its highlights are not there), rendered by video_processing."""
        found = await self.analyses.result(tenant_id, analysis_id, "highlights")
        items = {item["id"]: item for item in found["items"]}
        if highlight_ids is None:
            chosen = sorted(items.values(), key=lambda item: item["rank"])[:count]
        else:
            missing = [i for i in highlight_ids if i not in items]
            if missing:
                raise HighlightNotFound(f"Analysis {analysis_id} has no highlight {missing[0]}.")
            chosen = [items[i] for i in dict.fromkeys(highlight_ids)]
        analysis = await self.analyses.get(tenant_id, analysis_id)
        results = await self.analyses.results.of(analysis.id)
        asked = await asyncio.to_thread(
            _asked, analysis, results, chosen, aspect=aspect, platform=platform, captions=captions
        )
        # The tenant's key, scoped to this analysis: a retry hands over the same clips.
        handover = hashlib.sha256(f"{analysis.id}:{key}".encode()).hexdigest()
        body = SmartClipsIn(analysis_id=analysis.id, items=asked)
        async with _videos(self.settings, analysis.video_id) as videos:
            return await videos.make_clips(tenant_id, analysis.video_id, body, handover)

    async def of_analysis(self, tenant_id: str, analysis_id: str) -> list[ClipInfo]:
        analysis = await self.analyses.get(tenant_id, analysis_id)
        async with _videos(self.settings, analysis.video_id) as videos:
            return await videos.analysis_clips(tenant_id, analysis.video_id, analysis.id)

    async def get(self, tenant_id: str, analysis_id: str, clip_id: str) -> ClipInfo:
        for clip in await self.of_analysis(tenant_id, analysis_id):
            if clip.id == clip_id:
                return clip
        raise ClipNotFound(f"No clip {clip_id} of analysis {analysis_id}.")


def _asked(
    analysis: Analysis,
    results: dict[str, dict[str, Any]],
    chosen: list[dict[str, Any]],
    *,
    aspect: str,
    platform: str,
    captions: bool,
) -> list[SmartClipIn]:
    """Each highlight with its crop plan and, with captions, its words (blocking: a plan costs
    milliseconds of CPU)."""
    faces, speakers, scenes = results.get("faces"), results.get("speakers"), results["scenes"]
    tracks = analysers.tracks(faces) if faces else []
    turns = [(t["start"], t["end"], t["track_id"]) for t in speakers["turns"]] if speakers else None
    cuts = [b["time"] for b in scenes["boundaries"]]
    transcript = results.get("transcript") if captions else None
    document = TranscriptDocument.model_validate(transcript["document"]) if transcript else None
    asked = []
    for item in chosen:
        start, end = float(item["start"]), float(item["end"])
        crop = plan_crop(
            tracks, width=analysis.width or 0, height=analysis.height or 0, aspect=aspect,
            start=start, end=end, speakers=turns, cuts=cuts,
            frame_rate=analysis.frame_rate or 30.0,
        )  # fmt: skip
        words = clip_document(document, start, end, retime=False) if document else None
        clip = SmartClipIn(
            highlight_id=item["id"], start=start, end=end, title=item.get("title"),
            score=round(100 * float(item["score"]), 2), aspect=aspect, platform=platform,
            captions=captions, crop=crop_to_dict(crop), transcript=words,
        )  # fmt: skip
        asked.append(clip)
    return asked


@contextlib.asynccontextmanager
async def _videos(settings: VideoAnalysisSettings, video_id: str) -> AsyncIterator[VideosClient]:
    """video_processing's client, its refusals as this service's problems."""
    try:
        async with connected(settings) as videos:
            yield videos
    except VideoMissing:
        raise errors.VideoNotFound(f"Video {video_id} does not exist any more.") from None
    except VideoNotReady:
        raise errors.VideoNotReady(f"Video {video_id} is not ready.") from None
    except VideoHasNoPicture:
        raise errors.VideoHasNoPicture(f"Video {video_id} has no picture.") from None
    except (VideosError, httpx.HTTPError) as exc:
        raise UpstreamUnavailable(
            f"video_processing did not take or list the clips of video {video_id} ({exc!r:.100}).",
            retry_after=1,
        ) from exc

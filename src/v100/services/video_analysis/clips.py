"""Clips of an analysis's highlights: asked for by highlight id or as the best ``count`` (the
highlights stage must have finished), each a row and a render job (``rendering.py``); read
one, or an analysis's all, with a presigned link to the MP4 once ready. No HTTP objects."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from v100.kit.db import new_id, utcnow
from v100.kit.jobs import enqueue
from v100.services.video_analysis.errors import ClipNotFound, HighlightNotFound
from v100.services.video_analysis.models import Clip, ClipStatus
from v100.services.video_analysis.repository import ClipRepository
from v100.services.video_analysis.service import AnalysisService

__all__ = ["RENDER_JOB", "ClipService"]

RENDER_JOB = "video_analysis.render_clip"


class ClipService:
    def __init__(self, analyses: AnalysisService) -> None:
        self.analyses = analyses
        self.session = analyses.session
        self.clips = ClipRepository(analyses.session)

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
    ) -> list[Clip]:
        """A queued clip per highlight chosen (404 for an id the analysis has not; 409 while
        its highlights are not there)."""
        found = await self.analyses.result(tenant_id, analysis_id, "highlights")
        items = {item["id"]: item for item in found["items"]}
        if highlight_ids is None:
            chosen = sorted(items.values(), key=lambda item: item["rank"])[:count]
        else:
            missing = [i for i in highlight_ids if i not in items]
            if missing:
                raise HighlightNotFound(f"Analysis {analysis_id} has no highlight {missing[0]}.")
            chosen = [items[i] for i in dict.fromkeys(highlight_ids)]
        made = []
        for item in chosen:
            row = Clip(
                id=new_id(), tenant_id=tenant_id, analysis_id=analysis_id,
                highlight_id=item["id"], status=ClipStatus.QUEUED, start=item["start"],
                end=item["end"], aspect=aspect, platform=platform, captions=captions,
                title=item.get("title"),
            )  # fmt: skip
            await self.clips.add(row)
            row.job_id = await enqueue(
                self.session, RENDER_JOB, row.id, tenant_id=tenant_id, dedupe_key=f"clip:{row.id}"
            )
            made.append(row)
        await self.session.flush()
        return made

    async def of_analysis(self, tenant_id: str, analysis_id: str) -> Sequence[Clip]:
        await self.analyses.get(tenant_id, analysis_id)
        return await self.clips.of_analysis(tenant_id, analysis_id)

    async def get(self, tenant_id: str, analysis_id: str, clip_id: str) -> Clip:
        row = await self.clips.get(tenant_id, clip_id)
        if row is None or row.analysis_id != analysis_id:
            raise ClipNotFound(f"No clip {clip_id} of analysis {analysis_id}.")
        return row

    async def link(self, row: Clip) -> tuple[str, object] | None:
        """A presigned link to a ready clip's MP4, and when it expires."""
        if row.key is None or row.status != ClipStatus.READY:
            return None
        expires_in = self.analyses.settings.download_url_seconds
        url = await self.analyses.storage.presign_get(
            row.key, expires_in, filename=f"clip-{row.id}.mp4"
        )
        return url, utcnow() + timedelta(seconds=expires_in)

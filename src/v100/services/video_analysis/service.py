"""video_analysis's domain: starting an analysis of a stored video (checked with
video_processing at once; its stages planned, its job queued), reading, listing and deleting
analyses, their stages' results with presigned links to the keyframe images, and the tenant's
settings (its scene threshold). No HTTP objects in here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.db import Page, new_id, utcnow
from v100.kit.jobs import enqueue
from v100.kit.storage import ObjectStore
from v100.services.video_analysis import stages as plan
from v100.services.video_analysis.errors import AnalysisNotFound, StageNotRun, VideoHasNoAudio
from v100.services.video_analysis.highlights import DEFAULT_OPTIONS
from v100.services.video_analysis.models import Analysis, AnalysisStatus, TenantSettings
from v100.services.video_analysis.progress import initial
from v100.services.video_analysis.repository import (
    AnalysisRepository,
    StageResultRepository,
    TenantSettingsRepository,
)
from v100.services.video_analysis.settings import VideoAnalysisSettings
from v100.services.video_analysis.videos import check_video

__all__ = ["JOB", "AnalysisService", "analysis_prefix"]

JOB = "video_analysis.analyse"


def analysis_prefix(tenant_id: str, analysis_id: str) -> str:
    """Where an analysis's objects go: the fetched video, the keyframe images."""
    return f"analyses/{tenant_id}/{analysis_id}/"


class AnalysisService:
    """One per request: the request's session, the service's store and settings."""

    def __init__(
        self, session: AsyncSession, storage: ObjectStore, settings: VideoAnalysisSettings
    ) -> None:
        self.session = session
        self.storage = storage
        self.settings = settings
        self.analyses = AnalysisRepository(session)
        self.results = StageResultRepository(session)

    async def create(
        self,
        tenant_id: str,
        *,
        video_id: str,
        stages: Sequence[str],
        scene_threshold: float | None,
        highlights: dict[str, Any] | None = None,
    ) -> Analysis:
        """An analysis of the tenant's stored video: video_processing is asked now (unknown or
        another tenant's: 404; not ready, or audio only: 409); the job fetches it. Asking only
        for sound stages of a video without sound is 409 too."""
        planned = plan.plan(stages)
        video = await check_video(self.settings, tenant_id, video_id)
        if not video.has_audio and all(stage in plan.AUDIO_STAGES for stage in planned):
            raise VideoHasNoAudio(
                f"Video {video_id} has no audio track; {', '.join(planned)} need one."
            )
        if scene_threshold is None and "scenes" in planned:
            tenant = await TenantSettingsRepository(self.session).of_tenant(tenant_id)
            scene_threshold = tenant.scene_threshold if tenant is not None else None
        row = Analysis(
            id=new_id(), tenant_id=tenant_id, video_id=video_id, status=AnalysisStatus.QUEUED,
            stages=planned, progress=initial(planned), percent=0,
            highlight_options=highlights if highlights is not None
            else (DEFAULT_OPTIONS if "highlights" in planned else None),
            scene_threshold=scene_threshold if scene_threshold is not None
            else (self.settings.scene_threshold if "scenes" in planned else None),
        )  # fmt: skip
        await self.analyses.add(row)
        row.job_id = await enqueue(
            self.session, JOB, row.id, tenant_id=tenant_id, dedupe_key=f"analysis:{row.id}"
        )
        await self.session.flush()
        return row

    async def get(self, tenant_id: str, analysis_id: str) -> Analysis:
        row = await self.analyses.get(tenant_id, analysis_id)
        if row is None:
            raise AnalysisNotFound(f"No analysis {analysis_id}.")
        return row

    async def page(
        self,
        tenant_id: str,
        *,
        video_id: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Analysis]:
        return await self.analyses.page(
            tenant_id, video_id=video_id, status=status, limit=limit, cursor=cursor
        )

    async def delete(self, tenant_id: str, analysis_id: str) -> None:
        """The analysis, its results and its objects; a running job notices and stops. Clips
        made from its highlights are the video's (video_processing's) and stay."""
        row = await self.get(tenant_id, analysis_id)
        stored = await self.results.of(row.id)
        for item in stored.get("keyframes", {}).get("items", []):
            await self.storage.delete(item["key"])
        if row.source_key is not None:
            await self.storage.delete(row.source_key)
        await self.results.remove_all(row.id)
        await self.session.delete(row)

    async def result(self, tenant_id: str, analysis_id: str, stage: str) -> dict[str, Any]:
        """A stage's stored result; 409 when the stage was not asked for, was skipped (with
        why) or has not finished."""
        row = await self.get(tenant_id, analysis_id)
        found = await self.results.one(tenant_id, row.id, stage)
        if found is not None:
            return found.data
        state = row.progress.get(stage)
        if state is None:
            raise StageNotRun(f"Analysis {row.id} did not ask for the {stage} stage.")
        if state["status"] == "skipped":
            raise StageNotRun(f"The {stage} stage was skipped: {state.get('reason')}.")
        raise StageNotRun(f"The {stage} stage has not finished (the analysis is {row.status}).")

    async def has_result(self, tenant_id: str, analysis_id: str, stage: str) -> bool:
        return await self.results.one(tenant_id, analysis_id, stage) is not None

    async def with_links(self, keyframes: dict[str, Any]) -> list[dict[str, Any]]:
        """The keyframes with presigned links to their images."""
        expires_in = self.settings.download_url_seconds
        expires_at = utcnow() + timedelta(seconds=expires_in)
        return [
            {**item, "url": await self.storage.presign_get(item["key"], expires_in),
             "expires_at": expires_at}
            for item in keyframes["items"]
        ]  # fmt: skip

    async def tenant_settings(self, tenant_id: str) -> TenantSettings:
        row = await TenantSettingsRepository(self.session).of_tenant(tenant_id)
        return row or TenantSettings(tenant_id=tenant_id, scene_threshold=None)

    async def set_tenant_settings(
        self, tenant_id: str, *, scene_threshold: float | None
    ) -> TenantSettings:
        repository = TenantSettingsRepository(self.session)
        row = await repository.of_tenant(tenant_id)
        if row is None:
            row = await repository.add(TenantSettings(tenant_id=tenant_id))
        row.scene_threshold = scene_threshold
        row.updated_at = utcnow()
        await self.session.flush()
        return row

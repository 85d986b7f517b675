"""video_processing's queries, each scoped to one tenant (``TenantRepository``), plus the few
lookups a job makes by id alone (it carries ids it wrote itself)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.db import Page, TenantRepository, utcnow
from v100.services.video_processing.models import (
    CaptionTrack,
    Clip,
    DirectUpload,
    Highlight,
    Project,
    Rendition,
    Video,
    VideoStatus,
)

__all__ = [
    "CaptionTrackRepository",
    "ClipRepository",
    "DirectUploadRepository",
    "HighlightRepository",
    "ProjectRepository",
    "RenditionRepository",
    "VideoRepository",
]


class ProjectRepository(TenantRepository[Project]):
    model = Project


class VideoRepository(TenantRepository[Video]):
    model = Video

    async def page(
        self,
        tenant_id: str,
        *,
        limit: int,
        cursor: str | None,
        project_id: str | None = None,
        status: str | None = None,
    ) -> Page[Video]:
        where = []
        if project_id is not None:
            where.append(Video.project_id == project_id)
        if status is not None:
            where.append(Video.status == status)
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)

    async def locked(self, video_id: str) -> Video | None:
        """The video by id with its row locked for this transaction (PostgreSQL; SQLite
        serializes writers anyway): jobs and upload hooks change status under it."""
        statement = (
            select(Video)
            .where(Video.id == video_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def by_id(self, video_id: str) -> Video | None:
        return await self.session.get(Video, video_id)

    async def by_upload(self, upload_id: str) -> Video | None:
        """The video a tus upload made, whoever's (the upload's completion hook)."""
        statement = select(Video).where(Video.upload_id == upload_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def of_upload(self, tenant_id: str, upload_id: str) -> Video | None:
        """The tenant's video made by a tus upload."""
        statement = self.select_for(tenant_id).where(Video.upload_id == upload_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def processing(self) -> Sequence[Video]:
        statement = select(Video).where(Video.status == VideoStatus.PROCESSING).limit(500)
        return (await self.session.execute(statement)).scalars().all()


class RenditionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_video(self, video_id: str) -> Sequence[Rendition]:
        statement = select(Rendition).where(Rendition.video_id == video_id).order_by(Rendition.id)
        return (await self.session.execute(statement)).scalars().all()

    async def named(self, video_id: str, name: str) -> Rendition | None:
        statement = select(Rendition).where(Rendition.video_id == video_id, Rendition.name == name)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def replace(self, rendition: Rendition) -> Rendition:
        """Insert, or overwrite the video's rendition of the same name (a retried job)."""
        existing = await self.named(rendition.video_id, rendition.name)
        if existing is not None:
            for column in ("kind", "key", "content_type", "size", "width", "height"):
                setattr(existing, column, getattr(rendition, column))
            existing.bitrate = rendition.bitrate
            existing.duration = rendition.duration
            existing.extra = rendition.extra
            await self.session.flush()
            return existing
        self.session.add(rendition)
        await self.session.flush()
        return rendition

    async def clear(self, video_id: str) -> None:
        await self.session.execute(delete(Rendition).where(Rendition.video_id == video_id))


class HighlightRepository(TenantRepository[Highlight]):
    model = Highlight

    async def of_analysis(self, tenant_id: str, analysis_id: str, ref: str) -> Highlight | None:
        """The highlight made from an analysis's highlight ``ref`` (ADR 0060), if it was."""
        statement = self.select_for(tenant_id).where(
            Highlight.analysis_id == analysis_id, Highlight.ref == ref
        )
        return (await self.session.execute(statement.limit(1))).scalar_one_or_none()

    async def page(
        self, tenant_id: str, video_id: str, *, limit: int, cursor: str | None
    ) -> Page[Highlight]:
        return await self.list(
            tenant_id,
            limit=limit,
            cursor=cursor,
            newest_first=False,
            where=[Highlight.video_id == video_id],
        )


class ClipRepository(TenantRepository[Clip]):
    model = Clip

    async def page(
        self, tenant_id: str, *, limit: int, cursor: str | None, video_id: str | None = None
    ) -> Page[Clip]:
        where = [Clip.video_id == video_id] if video_id is not None else []
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)

    async def of_analysis(
        self, tenant_id: str, video_id: str, analysis_id: str | None
    ) -> list[Clip]:
        """The clips of one analysis's highlights (None: of every analysis) of one video,
        oldest first."""
        made = (
            Clip.analysis_id.is_not(None)
            if analysis_id is None
            else (Clip.analysis_id == analysis_id)
        )
        statement = (
            self.select_for(tenant_id)
            .where(Clip.video_id == video_id, made)
            .order_by(Clip.created_at, Clip.id)
            .limit(500)
        )
        return list((await self.session.execute(statement)).scalars())

    async def locked(self, clip_id: str) -> Clip | None:
        statement = (
            select(Clip)
            .where(Clip.id == clip_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()


class DirectUploadRepository(TenantRepository[DirectUpload]):
    model = DirectUpload

    async def locked(self, tenant_id: str, upload_id: str) -> DirectUpload | None:
        statement = self.select_for(tenant_id).where(DirectUpload.id == upload_id)
        return (await self.session.execute(statement.with_for_update())).scalar_one_or_none()

    async def by_tus_upload(self, upload_id: str) -> DirectUpload | None:
        statement = select(DirectUpload).where(DirectUpload.upload_id == upload_id)
        return (await self.session.execute(statement)).scalar_one_or_none()


class CaptionTrackRepository(TenantRepository[CaptionTrack]):
    model = CaptionTrack

    async def of_video(self, video_id: str) -> Sequence[CaptionTrack]:
        """The video's tracks by language (its caller has checked the video's tenant)."""
        statement = (
            select(CaptionTrack)
            .where(CaptionTrack.video_id == video_id)
            .order_by(CaptionTrack.language)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def named(self, video_id: str, language: str) -> CaptionTrack | None:
        statement = select(CaptionTrack).where(
            CaptionTrack.video_id == video_id, CaptionTrack.language == language
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def replace(self, track: CaptionTrack) -> CaptionTrack:
        """Insert, or overwrite the video's track in the same language."""
        existing = await self.named(track.video_id, track.language)
        if existing is None:
            self.session.add(track)
            await self.session.flush()
            return track
        for column in ("name", "source", "transcript_id", "cues", "vtt_key", "srt_key"):
            setattr(existing, column, getattr(track, column))
        existing.updated_at = utcnow()
        await self.session.flush()
        return existing

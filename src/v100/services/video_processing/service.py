"""video_processing's domain operations behind the API: projects, videos (created by an upload,
a direct upload or an import), highlights and clips. Works in the caller's unit of work; jobs
and events leave only after it commits. No HTTP objects in here."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.videos import SmartClipsIn
from v100.kit.bus import Bus
from v100.kit.db import Page, utcnow
from v100.kit.jobs import enqueue
from v100.media.smart_crop import crop_from_dict
from v100.services.video_processing import lifecycle
from v100.services.video_processing.errors import (
    ClipNotFound,
    DirectUploadNotFound,
    HighlightNotFound,
    InvalidCropPlan,
    InvalidTimeRange,
    ProjectNotFound,
    VideoHasNoPicture,
    VideoNotFound,
    VideoNotReady,
)
from v100.services.video_processing.models import (
    Clip,
    ClipMode,
    ClipStatus,
    DirectUpload,
    DirectUploadStatus,
    Highlight,
    Project,
    Video,
    VideoStatus,
)
from v100.services.video_processing.repository import (
    ClipRepository,
    DirectUploadRepository,
    HighlightRepository,
    ProjectRepository,
    RenditionRepository,
    VideoRepository,
)
from v100.services.video_processing.schemas import (
    ClipCreate,
    DirectUploadCreate,
    HighlightCreate,
    HighlightUpdate,
    NewVideoSettings,
    ProjectCreate,
    ProjectUpdate,
    VideoCreate,
    VideoUpdate,
)
from v100.services.video_processing.settings import VideoProcessingSettings

__all__ = ["VideoService"]


class VideoService:
    def __init__(self, session: AsyncSession, settings: VideoProcessingSettings, bus: Bus) -> None:
        self.session = session
        self.settings = settings
        self.bus = bus
        self.projects = ProjectRepository(session)
        self.videos = VideoRepository(session)
        self.highlights = HighlightRepository(session)
        self.clips = ClipRepository(session)
        self.direct_uploads = DirectUploadRepository(session)

    # --- projects ---------------------------------------------------------------------------

    async def create_project(self, tenant_id: str, body: ProjectCreate) -> Project:
        project = Project(tenant_id=tenant_id, name=body.name, description=body.description)
        return await self.projects.add(project)

    async def project(self, tenant_id: str, project_id: str) -> Project:
        project = await self.projects.get(tenant_id, project_id)
        if project is None:
            raise ProjectNotFound(f"No project {project_id}.")
        return project

    async def list_projects(self, tenant_id: str, limit: int, cursor: str | None) -> Page[Project]:
        return await self.projects.list(tenant_id, limit=limit, cursor=cursor)

    async def update_project(self, tenant_id: str, project_id: str, body: ProjectUpdate) -> Project:
        project = await self.project(tenant_id, project_id)
        for field, value in body.model_dump(exclude_unset=True).items():
            setattr(project, field, value)
        await self.session.flush()
        return project

    async def delete_project(self, tenant_id: str, project_id: str) -> None:
        """The project goes; its videos stay, outside any project."""
        if not await self.projects.delete(tenant_id, project_id):
            raise ProjectNotFound(f"No project {project_id}.")

    # --- videos -----------------------------------------------------------------------------

    async def _check_project(self, tenant_id: str, project_id: str | None) -> None:
        if project_id is not None:
            await self.project(tenant_id, project_id)

    async def new_video(
        self, tenant_id: str, options: NewVideoSettings, *, upload_id: str | None = None
    ) -> Video:
        """A video waiting for its source (status ``uploading``)."""
        await self._check_project(tenant_id, options.project_id)
        video = Video(
            tenant_id=tenant_id,
            project_id=options.project_id,
            title=options.title,
            passthrough=options.passthrough,
            normalize_audio=options.normalize_audio,
            auto_trim=options.auto_trim,
            max_resolution=options.max_resolution,
            upload_id=upload_id,
            status=VideoStatus.UPLOADING,
            progress=0,
            renditions=[],
        )
        return await self.videos.add(video)

    async def import_video(self, tenant_id: str, body: VideoCreate) -> Video:
        """A video whose source a job fetches from ``input_url``."""
        options = NewVideoSettings.model_validate(body.model_dump(exclude={"input_url"}))
        video = await self.new_video(tenant_id, options)
        video.source_url = str(body.input_url)
        video.job_id = await enqueue(
            self.session, "video_processing.import_video", video.id, tenant_id=tenant_id,
            dedupe_key=f"import:{video.id}",
        )  # fmt: skip
        return video

    async def source_stored(self, video: Video, source_key: str) -> None:
        """The source is in storage: processing starts (once, whoever calls)."""
        if video.status != VideoStatus.UPLOADING:
            return
        lifecycle.video_processing(self.session, self.bus, video, source_key)
        video.job_id = await enqueue(
            self.session, "video_processing.process_video", video.id, tenant_id=video.tenant_id,
            dedupe_key=f"process:{video.id}",
        )  # fmt: skip

    async def video(self, tenant_id: str, video_id: str) -> Video:
        video = await self.videos.get(tenant_id, video_id)
        if video is None:
            raise VideoNotFound(f"No video {video_id}.")
        return video

    async def list_videos(
        self,
        tenant_id: str,
        limit: int,
        cursor: str | None,
        project_id: str | None = None,
        status: str | None = None,
        upload_id: str | None = None,
    ) -> Page[Video]:
        """The tenant's videos, newest first; by tus upload id, the one video it made (if any:
        the other filters do not apply)."""
        if upload_id is not None:
            video = await self.videos.of_upload(tenant_id, upload_id)
            return Page(items=[] if video is None else [video], next_cursor=None)
        return await self.videos.page(
            tenant_id, limit=limit, cursor=cursor, project_id=project_id, status=status
        )

    async def update_video(self, tenant_id: str, video_id: str, body: VideoUpdate) -> Video:
        video = await self.video(tenant_id, video_id)
        changes = body.model_dump(exclude_unset=True)
        if "project_id" in changes:
            await self._check_project(tenant_id, changes["project_id"])
        for field, value in changes.items():
            setattr(video, field, value)
        await self.session.flush()
        return video

    async def delete_video(self, tenant_id: str, video_id: str) -> None:
        """The rows go now; a job removes the stored objects (the source and every output)."""
        video = await self.video(tenant_id, video_id)
        prefixes = [f"videos/{video.id}/"]
        keys = [video.source_key] if video.source_key else []
        for clip in (
            await self.clips.page(tenant_id, limit=200, cursor=None, video_id=video.id)
        ).items:
            if clip.key:
                keys.append(clip.key)
        await self.session.delete(video)
        await self.session.flush()
        await enqueue(
            self.session, "video_processing.delete_objects", prefixes, keys, tenant_id=tenant_id
        )

    # --- highlights -------------------------------------------------------------------------

    async def create_highlight(
        self, tenant_id: str, video_id: str, body: HighlightCreate
    ) -> Highlight:
        video = await self.video(tenant_id, video_id)
        _check_range(video, body.start, body.end)
        highlight = Highlight(
            tenant_id=tenant_id,
            video_id=video.id,
            start=body.start,
            end=body.end,
            title=body.title,
            score=body.score,
            source="manual",
        )
        return await self.highlights.add(highlight)

    async def highlight(self, tenant_id: str, video_id: str, highlight_id: str) -> Highlight:
        highlight = await self.highlights.get(tenant_id, highlight_id)
        if highlight is None or highlight.video_id != video_id:
            raise HighlightNotFound(f"No highlight {highlight_id} on video {video_id}.")
        return highlight

    async def list_highlights(
        self, tenant_id: str, video_id: str, limit: int, cursor: str | None
    ) -> Page[Highlight]:
        await self.video(tenant_id, video_id)
        return await self.highlights.page(tenant_id, video_id, limit=limit, cursor=cursor)

    async def update_highlight(
        self, tenant_id: str, video_id: str, highlight_id: str, body: HighlightUpdate
    ) -> Highlight:
        highlight = await self.highlight(tenant_id, video_id, highlight_id)
        changes = body.model_dump(exclude_unset=True)
        start = changes.get("start", highlight.start)
        end = changes.get("end", highlight.end)
        if end <= start:
            raise InvalidTimeRange("end must be after start")
        _check_range(await self.video(tenant_id, video_id), start, end)
        for field, value in changes.items():
            setattr(highlight, field, value)
        await self.session.flush()
        return highlight

    async def delete_highlight(self, tenant_id: str, video_id: str, highlight_id: str) -> None:
        highlight = await self.highlight(tenant_id, video_id, highlight_id)
        await self.session.delete(highlight)
        await self.session.flush()

    # --- clips ------------------------------------------------------------------------------

    async def create_clip(self, tenant_id: str, body: ClipCreate) -> Clip:
        video = await self.video(tenant_id, body.video_id)
        if video.status != VideoStatus.READY:
            raise VideoNotReady(f"Video {video.id} is {video.status}; clips need a ready video.")
        _check_range(video, body.start, body.end)
        if body.highlight_id is not None:
            await self.highlight(tenant_id, video.id, body.highlight_id)
        clip = Clip(
            tenant_id=tenant_id,
            video_id=video.id,
            highlight_id=body.highlight_id,
            start=body.start,
            end=body.end,
            mode=body.mode,
            platform=body.platform,
            status=ClipStatus.PROCESSING,
            progress=0,
        )
        await self.clips.add(clip)
        clip.job_id = await enqueue(
            self.session, "video_processing.render_clip", clip.id, tenant_id=tenant_id,
            dedupe_key=f"clip:{clip.id}",
        )  # fmt: skip
        return clip

    async def create_smart_clips(
        self, tenant_id: str, video_id: str, body: SmartClipsIn
    ) -> list[Clip]:
        """An analysis's highlights handed over (ADR 0060): each becomes this video's highlight
        (``source="analysis"``, once per analysis and highlight) and a queued smart clip that
        renders the range with the analysis's crop plan from the video's own MP4."""
        video = await self.video(tenant_id, video_id)
        if video.status != VideoStatus.READY:
            raise VideoNotReady(f"Video {video.id} is {video.status}; clips need a ready video.")
        if await RenditionRepository(self.session).named(video.id, "mp4") is None:
            raise VideoHasNoPicture(f"Video {video.id} has no picture (audio only).")
        made = []
        for item in body.items:
            _check_range(video, item.start, item.end)
            try:
                crop_from_dict(item.crop)
            except ValueError as exc:
                raise InvalidCropPlan(str(exc)) from exc
            highlight = await self.highlights.of_analysis(
                tenant_id, body.analysis_id, item.highlight_id
            )
            if highlight is None:
                found = Highlight(
                    tenant_id=tenant_id, video_id=video.id, start=item.start, end=item.end,
                    title=item.title, score=item.score, source="analysis",
                    analysis_id=body.analysis_id, ref=item.highlight_id,
                )  # fmt: skip
                highlight = await self.highlights.add(found)
            words = item.transcript if item.captions else None
            clip = Clip(
                tenant_id=tenant_id, video_id=video.id, highlight_id=highlight.id,
                analysis_id=body.analysis_id, start=item.start, end=item.end,
                mode=ClipMode.SMART, platform=item.platform, aspect=item.aspect,
                captions=item.captions, title=item.title, status=ClipStatus.PROCESSING,
                progress=0,
                plan={"crop": item.crop, "captions": item.captions,
                      "transcript": words.model_dump(mode="json") if words else None},
            )  # fmt: skip
            await self.clips.add(clip)
            clip.job_id = await enqueue(
                self.session, "video_processing.render_clip", clip.id, tenant_id=tenant_id,
                dedupe_key=f"clip:{clip.id}",
            )  # fmt: skip
            made.append(clip)
        await self.session.flush()
        return made

    async def analysis_clips(
        self, tenant_id: str, video_id: str, analysis_id: str | None
    ) -> list[Clip]:
        video = await self.video(tenant_id, video_id)
        return await self.clips.of_analysis(tenant_id, video.id, analysis_id)

    async def clip(self, tenant_id: str, clip_id: str) -> Clip:
        clip = await self.clips.get(tenant_id, clip_id)
        if clip is None:
            raise ClipNotFound(f"No clip {clip_id}.")
        return clip

    async def list_clips(
        self, tenant_id: str, limit: int, cursor: str | None, video_id: str | None
    ) -> Page[Clip]:
        return await self.clips.page(tenant_id, limit=limit, cursor=cursor, video_id=video_id)

    async def delete_clip(self, tenant_id: str, clip_id: str) -> None:
        clip = await self.clip(tenant_id, clip_id)
        keys = [clip.key] if clip.key else []
        await self.session.delete(clip)
        await self.session.flush()
        if keys:
            await enqueue(
                self.session, "video_processing.delete_objects", [], keys, tenant_id=tenant_id
            )

    # --- direct uploads ---------------------------------------------------------------------

    async def create_direct_upload(self, tenant_id: str, body: DirectUploadCreate) -> DirectUpload:
        await self._check_project(tenant_id, body.new_video.project_id)
        timeout = body.timeout or self.settings.direct_upload_seconds
        upload = DirectUpload(
            tenant_id=tenant_id,
            status=DirectUploadStatus.WAITING,
            new_video=body.new_video.model_dump(mode="json"),
            cors_origin=body.cors_origin,
            expires_at=utcnow() + timedelta(seconds=timeout),
        )
        return await self.direct_uploads.add(upload)

    async def direct_upload(self, tenant_id: str, upload_id: str) -> DirectUpload:
        upload = await self.direct_uploads.get(tenant_id, upload_id)
        if upload is None:
            raise DirectUploadNotFound(f"No direct upload {upload_id}.")
        if upload.status == DirectUploadStatus.WAITING and upload.expires_at <= utcnow():
            upload.status = DirectUploadStatus.TIMED_OUT
            await self.session.flush()
        return upload

    async def list_direct_uploads(
        self, tenant_id: str, limit: int, cursor: str | None
    ) -> Page[DirectUpload]:
        return await self.direct_uploads.list(tenant_id, limit=limit, cursor=cursor)

    async def cancel_direct_upload(self, tenant_id: str, upload_id: str) -> DirectUpload:
        upload = await self.direct_upload(tenant_id, upload_id)
        if upload.status == DirectUploadStatus.WAITING:
            upload.status = DirectUploadStatus.CANCELLED
            await self.session.flush()
        return upload


def _check_range(video: Video, start: float, end: float) -> None:
    if end <= start:
        raise InvalidTimeRange("end must be after start")
    if video.duration is not None and end > video.duration + 0.001:
        raise InvalidTimeRange(
            f"end ({end:g} s) is past the video's end ({video.duration:g} s)",
            extra={"duration": video.duration},
        )


def video_options(upload: DirectUpload) -> NewVideoSettings:
    data: dict[str, Any] = dict(upload.new_video or {})
    return NewVideoSettings.model_validate(data)

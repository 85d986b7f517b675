"""The status state machines of videos (uploading -> processing -> ready | errored) and clips
(processing -> ready | errored): every change goes through here, inside the caller's unit of
work, and the matching durable event is published after that transaction commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import (
    CLIP_ERRORED,
    CLIP_READY,
    VIDEO_ERRORED,
    VIDEO_READY,
    VIDEO_RENDITION_READY,
    VIDEO_UPLOAD_COMPLETED,
    ClipEventData,
    MediaErrorInfo,
    RenditionInfo,
    VideoEventData,
    publish_video_event,
)
from v100.kit.bus import Bus
from v100.kit.db import session_hooks, utcnow
from v100.services.video_processing.models import (
    Clip,
    ClipStatus,
    Rendition,
    RenditionKind,
    Video,
    VideoStatus,
)

__all__ = [
    "IllegalTransition",
    "announce_rendition",
    "clip_errored",
    "clip_payload",
    "clip_ready",
    "max_resolution",
    "video_errored",
    "video_payload",
    "video_processing",
    "video_ready",
]

_NEXT: dict[str, frozenset[str]] = {
    VideoStatus.UPLOADING: frozenset({VideoStatus.PROCESSING, VideoStatus.ERRORED}),
    VideoStatus.PROCESSING: frozenset({VideoStatus.READY, VideoStatus.ERRORED}),
    VideoStatus.READY: frozenset(),
    VideoStatus.ERRORED: frozenset(),
}


class IllegalTransition(RuntimeError):
    pass


def max_resolution(video: Video) -> str | None:
    heights = [r.height for r in video.renditions if r.kind == RenditionKind.HLS and r.height]
    return f"{max(heights)}p" if heights else None


def rendition_info(rendition: Rendition) -> RenditionInfo:
    return RenditionInfo(
        name=rendition.name,
        kind=rendition.kind,
        width=rendition.width,
        height=rendition.height,
        bitrate=rendition.bitrate,
    )


def video_payload(video: Video, rendition: Rendition | None = None) -> VideoEventData:
    error = None
    if video.status == VideoStatus.ERRORED:
        error = MediaErrorInfo(
            type=video.error_type or "internal", detail=video.error_detail or "Processing failed."
        )
    return VideoEventData(
        id=video.id,
        status=video.status,
        project_id=video.project_id,
        passthrough=video.passthrough,
        duration=video.duration,
        aspect_ratio=video.aspect_ratio,
        max_resolution=max_resolution(video),
        upload_id=video.upload_id,
        renditions=[rendition_info(r) for r in video.renditions],
        rendition=rendition_info(rendition) if rendition is not None else None,
        error=error,
    )


def clip_payload(clip: Clip) -> ClipEventData:
    error = None
    if clip.status == ClipStatus.ERRORED:
        error = MediaErrorInfo(
            type=clip.error_type or "internal", detail=clip.error_detail or "Rendering failed."
        )
    return ClipEventData(
        id=clip.id,
        video_id=clip.video_id,
        status=clip.status,
        start=clip.start,
        end=clip.end,
        mode=clip.mode,
        platform=clip.platform,
        duration=clip.duration,
        error=error,
        analysis_id=clip.analysis_id,
        highlight_id=clip.highlight_id,
        aspect=clip.aspect,
        rendered_start=clip.rendered_start,
        rendered_end=clip.rendered_end,
    )


def _after_commit(
    session: AsyncSession,
    bus: Bus,
    event_type: str,
    tenant_id: str,
    payload: VideoEventData | ClipEventData,
) -> None:
    async def publish() -> None:
        await publish_video_event(bus, event_type, tenant_id=tenant_id, payload=payload)

    session_hooks(session).after_commit(publish)


def _move(video: Video, to: VideoStatus) -> None:
    if to not in _NEXT[video.status]:
        raise IllegalTransition(f"video {video.id}: {video.status} -> {to}")
    video.status = to


def video_processing(session: AsyncSession, bus: Bus, video: Video, source_key: str) -> None:
    """The source is stored: uploading -> processing (``video.upload.completed``)."""
    _move(video, VideoStatus.PROCESSING)
    video.source_key = source_key
    video.progress = 0
    _after_commit(session, bus, VIDEO_UPLOAD_COMPLETED, video.tenant_id, video_payload(video))


def announce_rendition(session: AsyncSession, bus: Bus, video: Video, rendition: Rendition) -> None:
    _after_commit(
        session, bus, VIDEO_RENDITION_READY, video.tenant_id, video_payload(video, rendition)
    )


def video_ready(session: AsyncSession, bus: Bus, video: Video) -> None:
    _move(video, VideoStatus.READY)
    video.progress = 100
    video.ready_at = utcnow()
    _after_commit(session, bus, VIDEO_READY, video.tenant_id, video_payload(video))


def video_errored(
    session: AsyncSession, bus: Bus, video: Video, error_type: str, detail: str
) -> bool:
    """-> errored with ``error``; False (and nothing changes) when it already settled."""
    if VideoStatus.ERRORED not in _NEXT[video.status]:
        return False
    _move(video, VideoStatus.ERRORED)
    video.error_type = error_type
    video.error_detail = detail[:2000]
    _after_commit(session, bus, VIDEO_ERRORED, video.tenant_id, video_payload(video))
    return True


def clip_ready(session: AsyncSession, bus: Bus, clip: Clip) -> None:
    if clip.status != ClipStatus.PROCESSING:
        raise IllegalTransition(f"clip {clip.id}: {clip.status} -> ready")
    clip.status = ClipStatus.READY
    clip.progress = 100
    _after_commit(session, bus, CLIP_READY, clip.tenant_id, clip_payload(clip))


def clip_errored(session: AsyncSession, bus: Bus, clip: Clip, error_type: str, detail: str) -> bool:
    if clip.status != ClipStatus.PROCESSING:
        return False
    clip.status = ClipStatus.ERRORED
    clip.error_type = error_type
    clip.error_detail = detail[:2000]
    _after_commit(session, bus, CLIP_ERRORED, clip.tenant_id, clip_payload(clip))
    return True

"""video_processing's tables: projects -> videos -> renditions, highlights and clips, the direct
uploads handed to browsers, plus the kit's job, idempotency and tus upload tables. Every row
is tenant-owned; statuses are the documented state machines of docs/video.md."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from v100.kit.db import ID_LENGTH, TYPE_ANNOTATION_MAP, TenantOwned, Timestamped, service_metadata
from v100.kit.idempotency import add_idempotency_table
from v100.kit.jobs import add_job_table
from v100.kit.tus import add_tus_table

__all__ = [
    "Base",
    "CaptionSource",
    "CaptionTrack",
    "Clip",
    "ClipMode",
    "ClipStatus",
    "DirectUpload",
    "DirectUploadStatus",
    "Highlight",
    "Project",
    "Rendition",
    "RenditionKind",
    "Video",
    "VideoStatus",
]


class Base(DeclarativeBase):
    metadata = service_metadata("video_processing")
    type_annotation_map = TYPE_ANNOTATION_MAP


add_job_table(Base.metadata)
add_idempotency_table(Base.metadata)
add_tus_table(Base.metadata)


class VideoStatus(StrEnum):
    """uploading -> processing -> ready | errored (docs/video.md)."""

    UPLOADING = "uploading"
    PROCESSING = "processing"
    READY = "ready"
    ERRORED = "errored"


class RenditionKind(StrEnum):
    HLS = "hls"  # one row per ladder rung, plus the master playlist ("master")
    MP4 = "mp4"
    M4A = "m4a"
    POSTER = "poster"
    STORYBOARD = "storyboard"  # the sprite; its WebVTT index is ``extra["vtt_key"]``


class ClipStatus(StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    ERRORED = "errored"


class ClipMode(StrEnum):
    ACCURATE = "accurate"  # re-encoded: starts and ends on the exact frame
    FAST = "fast"  # stream copy from the keyframe at or before the start
    # Smart-cropped to an aspect by a plan (an analysis's), the platform's frame, auto-trimmed,
    # captions burnt in when asked (``media.clip_render``, ADR 0060).
    SMART = "smart"


class CaptionSource(StrEnum):
    GENERATED = "generated"  # from the video's automatic transcript (Mux's ``generated_vod``)


class DirectUploadStatus(StrEnum):
    """waiting -> asset_created | cancelled | timed_out (Mux's direct upload states)."""

    WAITING = "waiting"
    ASSET_CREATED = "asset_created"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class Project(Base, TenantOwned, Timestamped):
    __tablename__ = "projects"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)


class Video(Base, TenantOwned, Timestamped):
    __tablename__ = "videos"

    project_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("projects.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str | None] = mapped_column(String(200))
    # Free text the caller attaches and gets back in every event (Mux's ``passthrough``).
    passthrough: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=VideoStatus.UPLOADING)
    # Where the uploaded or imported source is kept, once it is.
    source_key: Mapped[str | None] = mapped_column(String(1024))
    source_url: Mapped[str | None] = mapped_column(Text)
    upload_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), unique=True)
    # Options chosen at creation.
    normalize_audio: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_trim: Mapped[bool] = mapped_column(Boolean, default=False)
    max_resolution: Mapped[int | None] = mapped_column(Integer)
    # What processing found and made.
    media_info: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    duration: Mapped[float | None] = mapped_column(Float)
    aspect_ratio: Mapped[str | None] = mapped_column(String(16))
    trim_start: Mapped[float | None] = mapped_column(Float)
    trim_end: Mapped[float | None] = mapped_column(Float)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    hold_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    credits_charged: Mapped[int | None] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(Text)
    ready_at: Mapped[datetime | None]

    renditions: Mapped[list[Rendition]] = relationship(
        back_populates="video",
        cascade="all, delete-orphan",
        order_by="Rendition.id",
        lazy="selectin",
    )


class Rendition(Base, TenantOwned, Timestamped):
    __tablename__ = "renditions"
    __table_args__ = (UniqueConstraint("video_id", "name"),)

    video_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("videos.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    # Unique per video: "master", "720p", "mp4", "m4a", "poster", "storyboard".
    name: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(1024))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    bitrate: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[float | None] = mapped_column(Float)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    video: Mapped[Video] = relationship(back_populates="renditions")


class Highlight(Base, TenantOwned, Timestamped):
    __tablename__ = "highlights"

    video_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("videos.id", ondelete="CASCADE"), index=True
    )
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    title: Mapped[str | None] = mapped_column(String(200))
    score: Mapped[float | None] = mapped_column(Float)
    # "manual" (a tenant marked it) or "analysis" (video_analysis found it, ADR 0060).
    source: Mapped[str] = mapped_column(String(32), default="manual")
    # An analysis's highlight: the analysis and the highlight's id there (one row per pair).
    analysis_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    ref: Mapped[str | None] = mapped_column(String(ID_LENGTH))


class Clip(Base, TenantOwned, Timestamped):
    __tablename__ = "clips"

    video_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("videos.id", ondelete="CASCADE"), index=True
    )
    highlight_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("highlights.id", ondelete="SET NULL")
    )
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    mode: Mapped[str] = mapped_column(String(16), default=ClipMode.ACCURATE)
    platform: Mapped[str | None] = mapped_column(String(32))
    # Smart clips (mode "smart", ADR 0060): the analysis that planned it, the target aspect,
    # the crop plan (``media.smart_crop.crop_to_dict``) and, with captions, the range's words
    # (a ``TranscriptDocument`` on the video's timeline); then what was rendered.
    analysis_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    title: Mapped[str | None] = mapped_column(String(200))
    aspect: Mapped[str | None] = mapped_column(String(8))
    captions: Mapped[bool | None] = mapped_column(Boolean)
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    rendered_start: Mapped[float | None] = mapped_column(Float)
    rendered_end: Mapped[float | None] = mapped_column(Float)
    caption_cues: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=ClipStatus.PROCESSING)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    key: Mapped[str | None] = mapped_column(String(1024))
    size: Mapped[int | None] = mapped_column(BigInteger)
    duration: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    job_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    # The credit hold taken before rendering, and what was captured once the clip is ready.
    hold_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    credits_charged: Mapped[int | None] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(Text)


class DirectUpload(Base, TenantOwned, Timestamped):
    __tablename__ = "direct_uploads"

    status: Mapped[str] = mapped_column(String(16), default=DirectUploadStatus.WAITING)
    # The settings the video is created with (project, title, flags, passthrough).
    new_video: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cors_origin: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime]
    # Set when the browser creates its tus upload with the token: the token is single-use.
    claimed_at: Mapped[datetime | None]
    # Bound when the browser creates its tus upload: the token admits only this upload after.
    upload_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), unique=True)
    video_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))


class CaptionTrack(Base, TenantOwned, Timestamped):
    """A video's text track in one language: WebVTT (also its HLS subtitle rendition) and SRT,
    made once from a transcript document and stored under ``videos/<id>/``."""

    __tablename__ = "caption_tracks"
    __table_args__ = (UniqueConstraint("video_id", "language"),)

    video_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("videos.id", ondelete="CASCADE"), index=True
    )
    language: Mapped[str] = mapped_column(String(16))
    # What players list ("en (generated)").
    name: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(16), default=CaptionSource.GENERATED)
    transcript_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    cues: Mapped[int] = mapped_column(Integer)
    vtt_key: Mapped[str] = mapped_column(String(1024))
    srt_key: Mapped[str] = mapped_column(String(1024))

"""video_analysis's tables: analyses (the video, the stages asked for, where each stands, the
fetched rendition, what it cost), each finished stage's result (one row per analysis and
stage: a rerun skips what is stored), each tenant's analysis settings, the kit's job table and
the stored answers of idempotent POSTs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from v100.kit.db import ID_LENGTH, TYPE_ANNOTATION_MAP, TenantOwned, Timestamped, service_metadata
from v100.kit.idempotency import add_idempotency_table
from v100.kit.jobs import add_job_table


class Base(DeclarativeBase):
    metadata = service_metadata("video_analysis")
    type_annotation_map = TYPE_ANNOTATION_MAP


add_job_table(Base.metadata)
add_idempotency_table(Base.metadata)


class AnalysisStatus(StrEnum):
    """queued -> running -> completed | failed (queued -> failed: the job was lost)."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class Analysis(Base, TenantOwned, Timestamped):
    __tablename__ = "analyses"

    video_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    status: Mapped[str] = mapped_column(String(16), default=AnalysisStatus.QUEUED, index=True)
    # The stages asked for, with those they need, in running order (stages.py).
    stages: Mapped[list[str]] = mapped_column(JSON)
    # Per stage: {"status": pending|running|completed|skipped, "percent": 0-100,
    # "reason": why it was skipped}; ``stage`` is the one running, ``percent`` the whole's.
    progress: Mapped[dict[str, Any]] = mapped_column(JSON)
    stage: Mapped[str | None] = mapped_column(String(16))
    percent: Mapped[int] = mapped_column(Integer, default=0)
    # As asked (None: the tenant's setting, else the service's), then as used.
    scene_threshold: Mapped[float | None] = mapped_column(Float)
    # The highlights asked for (``schemas.HighlightOptions``); None without that stage.
    highlight_options: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    job_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    hold_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    credits_charged: Mapped[int | None] = mapped_column(Integer)
    # The video's MP4 rendition fetched into this service's storage (once).
    source_key: Mapped[str | None] = mapped_column(String(1024))
    duration: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    frame_rate: Mapped[float | None] = mapped_column(Float)
    has_audio: Mapped[bool | None] = mapped_column(Boolean)

    error: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class StageResult(Base, TenantOwned, Timestamped):
    """A finished stage's result (the shapes of schemas.py); keyframe images are in storage."""

    __tablename__ = "stage_results"
    __table_args__ = (UniqueConstraint("analysis_id", "stage"),)

    analysis_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class TenantSettings(Base, TenantOwned, Timestamped):
    """A tenant's analysis settings (``/v1/video-analysis/settings``): one row per tenant,
    absent until first set (the service's defaults apply)."""

    __tablename__ = "tenant_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    scene_threshold: Mapped[float | None] = mapped_column(Float)

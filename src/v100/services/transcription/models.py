"""transcription's tables: transcripts (their source, state, the finished document and what
they cost), each tenant's transcription settings (automatic transcripts of its videos), the
kit's job table and the stored answers of idempotent POSTs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    String,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from v100.kit.db import ID_LENGTH, TYPE_ANNOTATION_MAP, TenantOwned, Timestamped, service_metadata
from v100.kit.idempotency import add_idempotency_table
from v100.kit.jobs import add_job_table


class Base(DeclarativeBase):
    metadata = service_metadata("transcription")
    type_annotation_map = TYPE_ANNOTATION_MAP


add_job_table(Base.metadata)
add_idempotency_table(Base.metadata)


class TranscriptStatus(StrEnum):
    """queued -> processing -> completed | failed (queued -> failed: the job was lost)."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class SourceKind(StrEnum):
    URL = "url"
    UPLOAD = "upload"
    VIDEO = "video"  # a video the tenant stored in video_processing


class Transcript(Base, TenantOwned, Timestamped):
    __tablename__ = "transcripts"

    status: Mapped[str] = mapped_column(String(16), default=TranscriptStatus.QUEUED, index=True)
    source_kind: Mapped[str] = mapped_column(String(16))
    # A URL source (fetched by the job); an upload's file name and content type.
    source_url: Mapped[str | None] = mapped_column(String(2048))
    source_name: Mapped[str | None] = mapped_column(String(200))
    source_content_type: Mapped[str | None] = mapped_column(String(100))
    # Where the source is kept while the job needs it (an upload; a fetched URL).
    source_key: Mapped[str | None] = mapped_column(String(1024))
    source_size: Mapped[int | None] = mapped_column(BigInteger)
    # A stored video's id (its audio is fetched by the job); made by the tenant's automatic
    # transcription (one per video: the partial unique index below), then captions the video.
    source_video_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the caller asked: a language code, or None to detect it; the backend's name.
    language_requested: Mapped[str | None] = mapped_column(String(16))
    backend: Mapped[str] = mapped_column(String(32))

    job_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    hold_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    credits_charged: Mapped[int | None] = mapped_column(Integer)

    # Once completed: what was heard (contracts.transcripts.TranscriptDocument as JSON).
    language: Mapped[str | None] = mapped_column(String(16))
    language_probability: Mapped[float | None] = mapped_column(Float)
    duration: Mapped[float | None] = mapped_column(Float)
    speech_duration: Mapped[float | None] = mapped_column(Float)
    word_count: Mapped[int | None] = mapped_column(Integer)
    document: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    # Once failed: a problem type slug and a sentence for people.
    error: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


# At most one automatic transcript per video: a video.ready delivered twice makes one.
Index(
    "uq_transcripts_automatic_video",
    Transcript.tenant_id,
    Transcript.source_video_id,
    unique=True,
    sqlite_where=Transcript.automatic == true(),
    postgresql_where=Transcript.automatic == true(),
)


class TenantSettings(Base, TenantOwned, Timestamped):
    """A tenant's transcription settings (``/v1/transcription/settings``): one row per tenant,
    absent until first set (the defaults apply)."""

    __tablename__ = "tenant_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    # Transcribe every video of the tenant that becomes ready (then caption it).
    auto_transcribe_videos: Mapped[bool] = mapped_column(Boolean, default=False)
    # Those transcripts' language (None: detected) and backend (None: the tenant's default).
    auto_language: Mapped[str | None] = mapped_column(String(16))
    auto_backend: Mapped[str | None] = mapped_column(String(32))

"""transcription's tables: transcripts (their source, state, the finished document and what
they cost), each tenant's transcription settings (automatic transcripts of its videos), live
sessions (their options, state, what they heard and why they ended), the kit's job table and
the stored answers of idempotent POSTs."""

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
    false,
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
    LIVE = "live"


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
    # Whether speakers are found (decided at creation from the request's ``diarize``).
    diarize: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

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
    # The live session whose final results this transcript stores (source kind "live").
    source_session_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))


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


class SessionStatus(StrEnum):
    """created -> streaming -> closed | failed; created -> closed (stopped, or never connected)."""

    CREATED = "created"
    STREAMING = "streaming"
    CLOSED = "closed"
    FAILED = "failed"


class LiveSession(Base, TenantOwned, Timestamped):
    """A live transcription session: made by a POST, streamed once over its WebSocket."""

    __tablename__ = "transcription_sessions"

    status: Mapped[str] = mapped_column(String(16), default=SessionStatus.CREATED, index=True)
    backend: Mapped[str] = mapped_column(String(32))
    # The options as resolved at creation (live_schemas.SessionOptionsOut as JSON).
    options: Mapped[dict[str, Any]] = mapped_column(JSON)

    # What the stream carried, written while it runs (every heartbeat) and when it ends.
    audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    bytes_received: Mapped[int] = mapped_column(BigInteger, default=0)
    final_results: Mapped[int] = mapped_column(Integer, default=0)
    interim_results: Mapped[int] = mapped_column(Integer, default=0)
    # Delay from the end of an utterance's last word (its audio's arrival) to its final result.
    latency_median_ms: Mapped[float | None] = mapped_column(Float)
    latency_p90_ms: Mapped[float | None] = mapped_column(Float)

    # Credits: the hold of the minute being streamed, minutes held so far, what was charged.
    hold_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    held_minutes: Mapped[int] = mapped_column(Integer, default=0)
    credits_charged: Mapped[int | None] = mapped_column(Integer)

    # How it ended: a slug (close-stream, stopped, idle-timeout, disconnected, ...), a sentence,
    # the WebSocket close code sent; the stored transcript of what was heard.
    end_reason: Mapped[str | None] = mapped_column(String(32))
    end_detail: Mapped[str | None] = mapped_column(String(500))
    close_code: Mapped[int | None] = mapped_column(Integer)
    transcript_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))

    stop_requested_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]

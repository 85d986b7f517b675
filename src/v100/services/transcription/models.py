"""transcription's tables: transcripts (their source, state, the finished document and what
they cost), the kit's job table and the stored answers of idempotent POSTs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Integer, String, false
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

"""recording_processor's tables: recordings (their upload, processing state, progress and the
objects they produced), the kit's job table and the stored answers of idempotent POSTs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from v100.kit.db import ID_LENGTH, TYPE_ANNOTATION_MAP, TenantOwned, Timestamped, service_metadata
from v100.kit.idempotency import add_idempotency_table
from v100.kit.jobs import add_job_table
from v100.kit.tus import add_tus_table


class Base(DeclarativeBase):
    metadata = service_metadata("recording_processor")
    type_annotation_map = TYPE_ANNOTATION_MAP


add_job_table(Base.metadata)
add_idempotency_table(Base.metadata)
# A meeting recording's chunks arrive over tus (meeting_uploads.py, docs/adr/0057).
add_tus_table(Base.metadata)

# uploading -> processing -> ready | errored (uploading -> errored for a bad upload)
STATUSES = ("uploading", "processing", "ready", "errored")


class Recording(Base, TenantOwned, Timestamped):
    __tablename__ = "recordings"

    meeting_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="uploading", index=True)
    # Finer than the status: uploading, queued, probing, transcoding, thumbnail, storing, ready,
    # errored; ``percent`` is the whole pipeline's (the upload's while uploading).
    stage: Mapped[str] = mapped_column(String(16), default="uploading")
    percent: Mapped[int] = mapped_column(Integer, default=0)
    # Once errored: a problem type slug and a sentence for people.
    error: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(String(500))

    # The upload in flight: the multipart upload id of the last PUT that claimed it (a newer
    # PUT takes over; the older one then fails at completion and aborts its parts).
    upload_id: Mapped[str | None] = mapped_column(String(1024))
    source_key: Mapped[str | None] = mapped_column(String(1024))
    source_size: Mapped[int | None] = mapped_column(BigInteger)
    source_content_type: Mapped[str | None] = mapped_column(String(100))
    uploaded_at: Mapped[datetime | None]
    # A meeting's recording: the tus upload its page appends WebM chunks to (the upload
    # capability names it); None for a recording uploaded whole (PUT).
    tus_upload_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))

    job_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    # What the probe found (MediaInfo.as_dict()).
    media: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    duration: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # An audio-only recording becomes an audio-only MP4 (M4A) without a thumbnail.
    audio_only: Mapped[bool | None]
    output_key: Mapped[str | None] = mapped_column(String(1024))
    output_size: Mapped[int | None] = mapped_column(BigInteger)
    thumbnail_key: Mapped[str | None] = mapped_column(String(1024))
    ready_at: Mapped[datetime | None]

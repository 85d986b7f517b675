"""media_processor's tables: inputs (objects a tenant uploaded here), media jobs (an operation on
one input, its state, progress and output), chunk assemblies (parts joined into an input), the
kit's job table and the stored answers of idempotent POSTs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from v100.kit.db import ID_LENGTH, TYPE_ANNOTATION_MAP, TenantOwned, Timestamped, service_metadata
from v100.kit.idempotency import add_idempotency_table
from v100.kit.jobs import add_job_table


class Base(DeclarativeBase):
    metadata = service_metadata("media_processor")
    type_annotation_map = TYPE_ANNOTATION_MAP


add_job_table(Base.metadata)
add_idempotency_table(Base.metadata)


class JobStatus(StrEnum):
    """queued -> running -> succeeded | failed (queued -> failed when it cannot start)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class AssemblyStatus(StrEnum):
    """open -> completed | failed (a size or sha256 mismatch at completion) | expired (not
    completed before ``expires_at``: its parts are dropped)."""

    OPEN = "open"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"


class MediaInput(Base, TenantOwned, Timestamped):
    """An object the tenant uploaded here, by its name; a new upload replaces it."""

    __tablename__ = "media_inputs"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str | None] = mapped_column(String(100))
    sha256: Mapped[str | None] = mapped_column(String(64))


class MediaJob(Base, TenantOwned, Timestamped):
    __tablename__ = "media_jobs"

    operation: Mapped[str] = mapped_column(String(32))
    # The operation's parameters as the request gave them (validated by schemas.py).
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    input_name: Mapped[str] = mapped_column(String(200))
    # The input's object when the job was created: a later upload of the name does not change
    # what a queued job works on.
    input_key: Mapped[str] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED, index=True)
    percent: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(String(500))
    job_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    output_key: Mapped[str | None] = mapped_column(String(1024))
    output_size: Mapped[int | None] = mapped_column(BigInteger)
    output_content_type: Mapped[str | None] = mapped_column(String(100))
    # The probe of the output and what the operation found (spec problems, loudness).
    output_media: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    hold_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    credits_charged: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Assembly(Base, TenantOwned, Timestamped):
    """Parts uploaded in any order, joined by the object store into one input."""

    __tablename__ = "media_assemblies"

    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=AssemblyStatus.OPEN, index=True)
    parts: Mapped[int] = mapped_column(Integer)
    total_size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(1024))
    upload_id: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int | None] = mapped_column(BigInteger)
    error_detail: Mapped[str | None] = mapped_column(String(500))
    completed_at: Mapped[datetime | None]
    # Open past this, it takes no parts and no completion, and the sweep drops its parts.
    expires_at: Mapped[datetime | None] = mapped_column(index=True)


class AssemblyPart(Base):
    """The store part that holds part ``number`` of an assembly now. A part sent again goes to
    the next store part number of its slot range (``Assembly.parts`` ranges of
    10,000 / parts numbers each, in order), and completion names only the latest: stores that
    keep a replaced part's old data (SeaweedFS 4.48 does) cannot assemble stale bytes."""

    __tablename__ = "media_assembly_parts"
    __table_args__ = (UniqueConstraint("assembly_id", "number"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    assembly_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("media_assemblies.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    store_number: Mapped[int] = mapped_column(Integer)
    # Set once the store part is written (None while an upload to it is in flight).
    etag: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int | None] = mapped_column(BigInteger)

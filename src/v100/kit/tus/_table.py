"""The ``kit_tus_uploads`` table a service keeps in its own database: one row per tus upload,
holding where it stands (offset, length, the storage multipart id and the parts stored so
far, the pending tail object), who owns it, its metadata, its expiry and its write lease."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    MetaData,
    String,
    Table,
)

from v100.kit.db import ID_LENGTH, NAMING_CONVENTION, UTCDateTime
from v100.kit.storage import UploadedPart

__all__ = ["TUS_TABLE", "UPLOADS", "TusUpload", "UploadStatus", "add_tus_table"]

TUS_TABLE = "kit_tus_uploads"
KEY_LENGTH = 1024


class UploadStatus(StrEnum):
    """receiving -> assembled (every byte stored, the object joined) -> completed (the host's
    ``on_complete`` committed with it). An upload stuck in ``assembled`` is finished again by
    the next HEAD or the expiry sweep."""

    RECEIVING = "receiving"
    ASSEMBLED = "assembled"
    COMPLETED = "completed"


_STATUS_CHECK = "status IN ({})".format(", ".join(f"'{status}'" for status in UploadStatus))


def _define(metadata: MetaData) -> Table:
    # Keep in step with ``migration.create_tus_table`` (a test compares the two).
    return Table(
        TUS_TABLE,
        metadata,
        Column("id", String(ID_LENGTH), primary_key=True),
        Column("tenant_id", String(ID_LENGTH), nullable=True, index=True),
        Column("user_id", String(ID_LENGTH), nullable=True),
        # Where the finished object will be; the host reads it in ``on_complete``.
        Column("object_key", String(KEY_LENGTH), nullable=False),
        # NULL while the client defers the length (Upload-Defer-Length: 1).
        Column("length", BigInteger, nullable=True),
        # Bytes durably stored: the parts below plus the pending tail (S3), or the length of
        # the upload's file that an fdatasync covered (local disk, where there are no parts).
        Column("offset", BigInteger, nullable=False),
        Column("upload_metadata", JSON, nullable=False),
        Column("content_type", String(255), nullable=True),
        Column("part_size", BigInteger, nullable=False),
        # The object store's multipart upload id; NULL once joined (or for an empty upload).
        Column("multipart_id", String(KEY_LENGTH), nullable=True),
        # [[part number, etag, size], ...] in part order: the only parts ever joined, so a part
        # written by a request that then failed (a checksum mismatch) is never used.
        Column("parts", JSON, nullable=False),
        # Bytes past the last whole part, kept as an object of their own until a part fills.
        Column("pending_key", String(KEY_LENGTH), nullable=True),
        Column("pending_size", BigInteger, nullable=False),
        Column("status", String(16), nullable=False),
        # The writing request's lease: one PATCH (or DELETE) at a time, across processes.
        Column("lock_token", String(ID_LENGTH), nullable=True),
        Column("locked_until", UTCDateTime(), nullable=True),
        Column("expires_at", UTCDateTime(), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
        Column("completed_at", UTCDateTime(), nullable=True),
        CheckConstraint(_STATUS_CHECK, name="status"),
        Index("ix_kit_tus_uploads_expires_at", "expires_at"),
    )


# The kit's own handle on the table, for the statements it runs (SQL does not depend on which
# MetaData a Table belongs to).
UPLOADS = _define(MetaData(naming_convention=NAMING_CONVENTION))


def add_tus_table(metadata: MetaData) -> Table:
    """Declare ``kit_tus_uploads`` in a service's MetaData (its ``Base.metadata``), so autogenerate
    and the schema-drift test know about it. The table itself is created by the service's
    migration calling ``v100.kit.tus.migration.create_tus_table()``."""
    if TUS_TABLE in metadata.tables:
        return metadata.tables[TUS_TABLE]
    return _define(metadata)


@dataclass(frozen=True, slots=True)
class TusUpload:
    """An upload as the host sees it (``on_complete``, ``pre_create`` results, ``get_upload``)."""

    id: str
    tenant_id: str | None
    user_id: str | None
    object_key: str
    length: int | None
    offset: int
    metadata: dict[str, str | None]
    content_type: str | None
    part_size: int
    multipart_id: str | None
    parts: tuple[UploadedPart, ...]
    pending_key: str | None
    pending_size: int
    status: UploadStatus
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    # Until when a writing request holds the upload (None when no request does).
    locked_until: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status is not UploadStatus.RECEIVING

    @property
    def stored_in_parts(self) -> int:
        return sum(part.size or 0 for part in self.parts)

    @classmethod
    def from_row(cls, row: Any) -> TusUpload:
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            user_id=row.user_id,
            object_key=row.object_key,
            length=row.length,
            offset=row.offset,
            metadata=dict(row.upload_metadata or {}),
            content_type=row.content_type,
            part_size=row.part_size,
            multipart_id=row.multipart_id,
            parts=tuple(
                UploadedPart(part_number=number, etag=etag, size=size)
                for number, etag, size in row.parts or []
            ),
            pending_key=row.pending_key,
            pending_size=row.pending_size,
            status=UploadStatus(row.status),
            expires_at=row.expires_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            completed_at=row.completed_at,
            locked_until=row.locked_until if row.lock_token is not None else None,
        )


def parts_json(parts: tuple[UploadedPart, ...]) -> list[list[Any]]:
    return [[part.part_number, part.etag, part.size] for part in parts]

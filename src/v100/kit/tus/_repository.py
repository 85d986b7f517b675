"""The statements run on ``kit_tus_uploads``: reads, the write lease (one writing request per
upload, across processes: a row-level compare-and-set, renewed while a body streams in) and
the lease-guarded progress writes, so a request that lost its lease cannot overwrite the
state left by the one that took over."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from v100.kit.tus._table import UPLOADS, TusUpload, UploadStatus

__all__ = [
    "acquire_lease",
    "assembled_uploads",
    "delete_upload",
    "expired_uploads",
    "get_upload",
    "insert_upload",
    "mark_completed",
    "release_lease",
    "update_leased",
]


async def insert_upload(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(UPLOADS).values(**values))


async def get_upload(session: AsyncSession, upload_id: str) -> TusUpload | None:
    row = (await session.execute(select(UPLOADS).where(UPLOADS.c.id == upload_id))).first()
    return None if row is None else TusUpload.from_row(row)


async def acquire_lease(
    session: AsyncSession, upload_id: str, token: str, now: datetime, ttl: timedelta
) -> bool:
    """Take the upload's lease unless a live one is held; False when it is."""
    result = await session.execute(
        update(UPLOADS)
        .where(
            UPLOADS.c.id == upload_id,
            or_(UPLOADS.c.lock_token.is_(None), UPLOADS.c.locked_until < now),
        )
        .values(lock_token=token, locked_until=now + ttl)
        .returning(UPLOADS.c.id)
    )
    return result.first() is not None


async def update_leased(
    session: AsyncSession, upload_id: str, token: str, values: dict[str, Any]
) -> bool:
    """Write ``values`` if ``token`` still holds the lease; False when it was lost."""
    result = await session.execute(
        update(UPLOADS)
        .where(UPLOADS.c.id == upload_id, UPLOADS.c.lock_token == token)
        .values(**values)
        .returning(UPLOADS.c.id)
    )
    return result.first() is not None


async def release_lease(session: AsyncSession, upload_id: str, token: str) -> None:
    await session.execute(
        update(UPLOADS)
        .where(UPLOADS.c.id == upload_id, UPLOADS.c.lock_token == token)
        .values(lock_token=None, locked_until=None)
    )


async def delete_upload(session: AsyncSession, upload_id: str, token: str | None = None) -> bool:
    statement = delete(UPLOADS).where(UPLOADS.c.id == upload_id)
    if token is not None:
        statement = statement.where(UPLOADS.c.lock_token == token)
    result = await session.execute(statement.returning(UPLOADS.c.id))
    return result.first() is not None


async def expired_uploads(session: AsyncSession, now: datetime, limit: int) -> Sequence[TusUpload]:
    rows = await session.execute(
        select(UPLOADS)
        .where(UPLOADS.c.expires_at < now)
        .order_by(UPLOADS.c.expires_at)
        .limit(limit)
    )
    return [TusUpload.from_row(row) for row in rows]


async def mark_completed(session: AsyncSession, upload_id: str, values: dict[str, Any]) -> bool:
    """assembled -> completed, once: False if another request got there first."""
    result = await session.execute(
        update(UPLOADS)
        .where(UPLOADS.c.id == upload_id, UPLOADS.c.status == UploadStatus.ASSEMBLED)
        .values(**values)
        .returning(UPLOADS.c.id)
    )
    return result.first() is not None


async def assembled_uploads(session: AsyncSession, limit: int) -> Sequence[TusUpload]:
    rows = await session.execute(
        select(UPLOADS)
        .where(UPLOADS.c.status == UploadStatus.ASSEMBLED)
        .order_by(UPLOADS.c.updated_at)
        .limit(limit)
    )
    return [TusUpload.from_row(row) for row in rows]

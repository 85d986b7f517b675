"""recording_processor's queries: one recording of a tenant, a page of them, and the
conditional updates that move a recording through its states without racing another request
or job (each names the state it expects and reports whether it won)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, select, update

from v100.kit.db import Page, TenantRepository, utcnow
from v100.services.recording_processor.models import Recording

__all__ = ["RecordingRepository"]


class RecordingRepository(TenantRepository[Recording]):
    model = Recording

    async def page(
        self, tenant_id: str, *, meeting_id: str | None, limit: int, cursor: str | None
    ) -> Page[Recording]:
        where: list[ColumnElement[bool]] = []
        if meeting_id is not None:
            where.append(Recording.meeting_id == meeting_id)
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)

    async def change(
        self,
        tenant_id: str,
        recording_id: str,
        *,
        expect_status: str | Sequence[str],
        expect_upload_id: str | None = None,
        **values: Any,
    ) -> Recording | None:
        """Set ``values`` when the recording is in ``expect_status`` (and, given, still has
        upload ``expect_upload_id``); the updated row, or None when another change came first."""
        statuses = [expect_status] if isinstance(expect_status, str) else list(expect_status)
        statement = (
            update(Recording)
            .where(
                Recording.tenant_id == tenant_id,
                Recording.id == recording_id,
                Recording.status.in_(statuses),
            )
            .values(updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        if expect_upload_id is not None:
            statement = statement.where(Recording.upload_id == expect_upload_id)
        result = await self.session.execute(statement)
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        return await self.fresh(tenant_id, recording_id)

    async def fresh(self, tenant_id: str, recording_id: str) -> Recording | None:
        """The row as stored now (not the session's cached copy)."""
        statement = (
            self.select_for(tenant_id)
            .where(Recording.id == recording_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def processing(self, limit: int = 500) -> Sequence[Recording]:
        """Recordings of every tenant still processing (for the reconciliation sweep)."""
        statement = (
            select(Recording)
            .where(Recording.status == "processing", Recording.job_id.is_not(None))
            .order_by(Recording.id)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()

"""Live sessions' queries: one session of a tenant, a page of them, how many a tenant has open,
any tenant's session for its own stream or the sweep, and the conditional update that moves a
session through its states (it names the states it expects and reports whether it won)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update

from v100.kit.db import Page, TenantRepository, utcnow
from v100.services.transcription.models import LiveSession, SessionStatus

__all__ = ["SessionRepository"]


class SessionRepository(TenantRepository[LiveSession]):
    model = LiveSession

    async def page(
        self, tenant_id: str, *, status: str | None, limit: int, cursor: str | None
    ) -> Page[LiveSession]:
        where = [] if status is None else [LiveSession.status == status]
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)

    async def open_count(self, tenant_id: str, *, created_since: datetime) -> int:
        """The tenant's sessions streaming, or created since ``created_since`` and waiting."""
        statement = (
            select(func.count())
            .select_from(LiveSession)
            .where(
                LiveSession.tenant_id == tenant_id,
                or_(
                    LiveSession.status == SessionStatus.STREAMING,
                    (LiveSession.status == SessionStatus.CREATED)
                    & (LiveSession.created_at >= created_since),
                ),
            )
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def by_id(self, session_id: str) -> LiveSession | None:
        """Any tenant's session (for its stream and the sweep, which know no tenant filter)."""
        statement = (
            select(LiveSession)
            .where(LiveSession.id == session_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def change(
        self,
        session_id: str,
        *,
        expect_status: str | Sequence[str],
        tenant_id: str | None = None,
        **values: Any,
    ) -> LiveSession | None:
        """Set ``values`` when the session is in ``expect_status`` (and the tenant's, when
        given); the row as updated, or None when it was not."""
        statuses = [expect_status] if isinstance(expect_status, str) else list(expect_status)
        where = [LiveSession.id == session_id, LiveSession.status.in_(statuses)]
        if tenant_id is not None:
            where.append(LiveSession.tenant_id == tenant_id)
        statement = (
            update(LiveSession)
            .where(*where)
            .values(updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        return await self.by_id(session_id)

    async def stale(
        self, *, created_before: datetime, silent_since: datetime, limit: int = 500
    ) -> Sequence[LiveSession]:
        """Every tenant's sessions created and never connected before ``created_before``, or
        streaming with no heartbeat since ``silent_since`` (for the sweep)."""
        last_sign = func.coalesce(LiveSession.heartbeat_at, LiveSession.started_at)
        statement = (
            select(LiveSession)
            .where(
                or_(
                    (LiveSession.status == SessionStatus.CREATED)
                    & (LiveSession.created_at < created_before),
                    (LiveSession.status == SessionStatus.STREAMING) & (last_sign < silent_since),
                )
            )
            .order_by(LiveSession.id)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()

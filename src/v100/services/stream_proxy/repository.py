"""stream_proxy's queries: a tenant's media routes (one, a page, and every route of every
tenant for the health checker, the one reader that is no tenant's)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from v100.kit.db import Page, TenantRepository
from v100.services.stream_proxy.models import MediaRoute

__all__ = ["RouteRepository"]


class RouteRepository(TenantRepository[MediaRoute]):
    model = MediaRoute

    async def page(
        self, tenant_id: str, *, kind: str | None, limit: int, cursor: str | None
    ) -> Page[MediaRoute]:
        where = [MediaRoute.kind == kind] if kind is not None else []
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)

    async def every_route(self, limit: int) -> Sequence[MediaRoute]:
        """Every tenant's routes (the health checker's view; it answers no tenant)."""
        statement = select(MediaRoute).order_by(MediaRoute.id).limit(limit)
        return (await self.session.execute(statement)).scalars().all()

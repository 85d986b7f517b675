"""video_analysis's queries: one analysis of a tenant, a page of them, any tenant's analysis
for its own job, the conditional update that moves an analysis through its states without
racing another run (it names the states it expects and reports whether it won), the stored
results of its stages, its clips, and a tenant's settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update

from v100.kit.db import Page, TenantRepository, utcnow
from v100.services.video_analysis.models import (
    Analysis,
    AnalysisStatus,
    StageResult,
    TenantSettings,
)

__all__ = [
    "AnalysisRepository",
    "StageResultRepository",
    "TenantSettingsRepository",
]


class AnalysisRepository(TenantRepository[Analysis]):
    model = Analysis

    async def page(
        self,
        tenant_id: str,
        *,
        video_id: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Analysis]:
        where = []
        if video_id is not None:
            where.append(Analysis.video_id == video_id)
        if status is not None:
            where.append(Analysis.status == status)
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)

    async def by_id(self, analysis_id: str) -> Analysis | None:
        """Any tenant's analysis (for its own background run), as stored now."""
        statement = (
            select(Analysis)
            .where(Analysis.id == analysis_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def change(
        self, analysis_id: str, *, expect_status: str | Sequence[str], **values: Any
    ) -> Analysis | None:
        """Set ``values`` when the analysis is in ``expect_status``; the row as updated, or
        None when another change came first (or it was deleted)."""
        statuses = [expect_status] if isinstance(expect_status, str) else list(expect_status)
        statement = (
            update(Analysis)
            .where(Analysis.id == analysis_id, Analysis.status.in_(statuses))
            .values(updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        return await self.by_id(analysis_id)

    async def unsettled(self, limit: int = 500) -> Sequence[Analysis]:
        """Every tenant's analyses not yet settled that have a job (for the sweep)."""
        statement = (
            select(Analysis)
            .where(
                Analysis.status.in_((AnalysisStatus.QUEUED, AnalysisStatus.RUNNING)),
                Analysis.job_id.is_not(None),
            )
            .order_by(Analysis.id)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()


class StageResultRepository(TenantRepository[StageResult]):
    model = StageResult

    async def of(self, analysis_id: str) -> dict[str, dict[str, Any]]:
        """The analysis's stored results by stage."""
        statement = select(StageResult).where(StageResult.analysis_id == analysis_id)
        rows = (await self.session.execute(statement)).scalars().all()
        return {row.stage: row.data for row in rows}

    async def one(self, tenant_id: str, analysis_id: str, stage: str) -> StageResult | None:
        statement = self.select_for(tenant_id).where(
            StageResult.analysis_id == analysis_id, StageResult.stage == stage
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def remove_all(self, analysis_id: str) -> None:
        await self.session.execute(
            delete(StageResult).where(StageResult.analysis_id == analysis_id)
        )


class TenantSettingsRepository(TenantRepository[TenantSettings]):
    model = TenantSettings

    async def of_tenant(self, tenant_id: str) -> TenantSettings | None:
        statement = self.select_for(tenant_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

"""media_processor's queries: inputs by name, jobs and assemblies of a tenant, and the
conditional updates that move a job or assembly through its states without racing another
request or run (each names the states it expects and reports whether it won)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from v100.kit.db import Page, TenantRepository, utcnow
from v100.services.media_processor.models import (
    Assembly,
    AssemblyPart,
    AssemblyStatus,
    JobStatus,
    MediaInput,
    MediaJob,
)

__all__ = ["AssemblyRepository", "InputRepository", "JobRepository"]


class InputRepository(TenantRepository[MediaInput]):
    model = MediaInput

    async def by_name(self, tenant_id: str, name: str) -> MediaInput | None:
        statement = self.select_for(tenant_id).where(MediaInput.name == name)
        return (await self.session.execute(statement)).scalar_one_or_none()


class JobRepository(TenantRepository[MediaJob]):
    model = MediaJob

    async def page(self, tenant_id: str, *, limit: int, cursor: str | None) -> Page[MediaJob]:
        return await self.list(tenant_id, limit=limit, cursor=cursor)

    async def by_id(self, job_id: str) -> MediaJob | None:
        """Any tenant's job (for its own background run, which knows no tenant filter)."""
        statement = (
            select(MediaJob).where(MediaJob.id == job_id).execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def change(
        self, job_id: str, *, expect_status: str | Sequence[str], **values: Any
    ) -> MediaJob | None:
        """Set ``values`` when the job is in ``expect_status``; the row as updated, or None."""
        statuses = [expect_status] if isinstance(expect_status, str) else list(expect_status)
        statement = (
            update(MediaJob)
            .where(MediaJob.id == job_id, MediaJob.status.in_(statuses))
            .values(updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        return await self.by_id(job_id)

    async def unsettled(self, limit: int = 500) -> Sequence[MediaJob]:
        """Every tenant's jobs not yet succeeded or failed (for the reconciliation sweep)."""
        statement = (
            select(MediaJob)
            .where(MediaJob.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
            .where(MediaJob.job_id.is_not(None))
            .order_by(MediaJob.id)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def uses_key(self, key: str) -> bool:
        """Whether an unsettled job still reads the object ``key``."""
        statement = select(func.count()).where(
            MediaJob.input_key == key,
            MediaJob.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
        )
        return bool((await self.session.execute(statement)).scalar_one())


class AssemblyRepository(TenantRepository[Assembly]):
    model = Assembly

    async def change(
        self, tenant_id: str, assembly_id: str, *, expect_status: str, **values: Any
    ) -> bool:
        statement = (
            update(Assembly)
            .where(
                Assembly.tenant_id == tenant_id,
                Assembly.id == assembly_id,
                Assembly.status == expect_status,
            )
            .values(updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def due(self, now: datetime, limit: int) -> Sequence[Assembly]:
        """Every tenant's open assemblies whose ``expires_at`` has passed, oldest first."""
        statement = (
            select(Assembly)
            .where(Assembly.status == AssemblyStatus.OPEN, Assembly.expires_at <= now)
            .order_by(Assembly.expires_at)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def drop_parts(self, assembly_id: str) -> None:
        """Forget an assembly's part records (their store parts are gone)."""
        await self.session.execute(
            delete(AssemblyPart)
            .where(AssemblyPart.assembly_id == assembly_id)
            .execution_options(synchronize_session=False)
        )

    async def parts(self, assembly_id: str) -> Sequence[AssemblyPart]:
        """The assembly's parts, by number."""
        statement = (
            select(AssemblyPart)
            .where(AssemblyPart.assembly_id == assembly_id)
            .order_by(AssemblyPart.number)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def part(self, assembly_id: str, number: int) -> AssemblyPart | None:
        statement = (
            select(AssemblyPart)
            .where(AssemblyPart.assembly_id == assembly_id, AssemblyPart.number == number)
            .with_for_update()
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def part_stored(
        self, assembly_id: str, number: int, store_number: int, *, etag: str, size: int
    ) -> bool:
        """Record the etag of ``store_number`` if it is still the part's latest send."""
        statement = (
            update(AssemblyPart)
            .where(
                AssemblyPart.assembly_id == assembly_id,
                AssemblyPart.number == number,
                AssemblyPart.store_number == store_number,
            )
            .values(etag=etag, size=size)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]

"""transcription's queries: one transcript of a tenant, a page of them, any tenant's transcript
for its own job, a video's automatic transcript and all its transcripts, the conditional
update that moves a transcript through its states without racing another run (it names the
states it expects and reports whether it won), and a tenant's settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, true, update

from v100.kit.db import Page, TenantRepository, utcnow
from v100.services.transcription.models import TenantSettings, Transcript, TranscriptStatus

__all__ = ["TenantSettingsRepository", "TranscriptRepository"]


class TranscriptRepository(TenantRepository[Transcript]):
    model = Transcript

    async def page(
        self, tenant_id: str, *, status: str | None, limit: int, cursor: str | None
    ) -> Page[Transcript]:
        where = [] if status is None else [Transcript.status == status]
        return await self.list(tenant_id, limit=limit, cursor=cursor, where=where)

    async def by_id(self, transcript_id: str) -> Transcript | None:
        """Any tenant's transcript (for its own background run, which knows no tenant filter)."""
        statement = (
            select(Transcript)
            .where(Transcript.id == transcript_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def automatic_for(self, tenant_id: str, video_id: str) -> Transcript | None:
        """The video's automatic transcript, if it has one."""
        statement = self.select_for(tenant_id).where(
            Transcript.source_video_id == video_id, Transcript.automatic == true()
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def of_video(self, tenant_id: str, video_id: str) -> Sequence[Transcript]:
        """The video's transcripts, newest first."""
        statement = (
            self.select_for(tenant_id)
            .where(Transcript.source_video_id == video_id)
            .order_by(Transcript.id.desc())
        )
        return (await self.session.execute(statement)).scalars().all()

    async def change(
        self, transcript_id: str, *, expect_status: str | Sequence[str], **values: Any
    ) -> Transcript | None:
        """Set ``values`` when the transcript is in ``expect_status``; the row as updated, or
        None when another change came first."""
        statuses = [expect_status] if isinstance(expect_status, str) else list(expect_status)
        statement = (
            update(Transcript)
            .where(Transcript.id == transcript_id, Transcript.status.in_(statuses))
            .values(updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        return await self.by_id(transcript_id)

    async def unsettled(self, limit: int = 500) -> Sequence[Transcript]:
        """Every tenant's transcripts not yet settled that have a job (for the sweep)."""
        statement = (
            select(Transcript)
            .where(
                Transcript.status.in_((TranscriptStatus.QUEUED, TranscriptStatus.PROCESSING)),
                Transcript.job_id.is_not(None),
            )
            .order_by(Transcript.id)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()


class TenantSettingsRepository(TenantRepository[TenantSettings]):
    model = TenantSettings

    async def of_tenant(self, tenant_id: str) -> TenantSettings | None:
        statement = self.select_for(tenant_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

"""The media job state machine's end moves and their announcements:

    queued ──run starts──▶ running ──output stored──▶ succeeded
       │                      │
       └──────────────────────┴──bad input, attempts exhausted, job lost──▶ failed

Each move is a conditional update (it names the states it leaves) in the caller's unit of
work; ``media.job.succeeded`` / ``media.job.failed`` go out after commit. Percent steps are
published on the tenant's ephemeral channel (``media.job.progress``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import (
    MEDIA_JOB_FAILED,
    MEDIA_JOB_SUCCEEDED,
    MediaErrorInfo,
    MediaJobEventData,
    MediaJobProgress,
    publish_media_job_event,
    publish_media_job_progress,
)
from v100.kit.bus import Bus
from v100.kit.db import session_hooks, utcnow
from v100.services.media_processor.models import JobStatus, MediaJob
from v100.services.media_processor.repository import JobRepository

__all__ = ["event_data", "mark_failed", "mark_succeeded", "publish_progress"]


def event_data(job: MediaJob) -> MediaJobEventData:
    error = None
    if job.error is not None:
        error = MediaErrorInfo(type=job.error, detail=job.error_detail or "")
    return MediaJobEventData(
        id=job.id,
        status=job.status,
        operation=job.operation,
        input=job.input_name,
        output_size=job.output_size,
        output_content_type=job.output_content_type,
        credits_charged=job.credits_charged,
        error=error,
    )


def _announce(session: AsyncSession, bus: Bus, job: MediaJob, event_type: str) -> None:
    data, tenant_id = event_data(job), job.tenant_id
    session_hooks(session).after_commit(
        lambda: publish_media_job_event(bus, event_type, tenant_id=tenant_id, payload=data)
    )


async def mark_failed(
    session: AsyncSession, bus: Bus, job_id: str, slug: str, detail: str
) -> MediaJob | None:
    """queued or running -> failed; None when the job had settled already."""
    changed = await JobRepository(session).change(
        job_id,
        expect_status=(JobStatus.QUEUED, JobStatus.RUNNING),
        status=JobStatus.FAILED,
        error=slug,
        error_detail=detail[:500],
        finished_at=utcnow(),
    )
    if changed is not None:
        _announce(session, bus, changed, MEDIA_JOB_FAILED)
    return changed


async def mark_succeeded(
    session: AsyncSession, bus: Bus, job_id: str, **values: Any
) -> MediaJob | None:
    """running -> succeeded with the output's ``values``; None when it had settled already."""
    changed = await JobRepository(session).change(
        job_id,
        expect_status=JobStatus.RUNNING,
        status=JobStatus.SUCCEEDED,
        percent=100,
        finished_at=utcnow(),
        **values,
    )
    if changed is not None:
        _announce(session, bus, changed, MEDIA_JOB_SUCCEEDED)
    return changed


async def publish_progress(bus: Bus, tenant_id: str, job_id: str, percent: int) -> None:
    await publish_media_job_progress(
        bus, MediaJobProgress(tenant_id=tenant_id, id=job_id, percent=percent)
    )

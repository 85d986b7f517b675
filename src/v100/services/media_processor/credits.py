"""Credits for transcodes, through billing's internal API, as video_processing does (ADR 0015):
one hold per media job before encoding, captured with the actual amount after, released on
failure. Keys and bodies derive from the job alone, so a retried run is charged once."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import httpx

from v100.contracts.billing import BillingError, InsufficientCredits, spending_for
from v100.kit.errors import UpstreamUnavailable
from v100.kit.jobs import JobContext
from v100.kit.observability import get_logger
from v100.services.media_processor.errors import JobFailed
from v100.services.media_processor.repository import JobRepository
from v100.services.media_processor.resources import Resources

__all__ = ["capture", "credits_for", "release", "reserve"]

_log = get_logger("v100.media_processor.credits")
# The transcode task's limits (tasks.py): the hold outlives every attempt.
HOLD_LIFETIME = timedelta(hours=3 * 3 + 1)


def credits_for(duration: float, per_minute: int) -> int:
    """Credits for ``duration`` seconds of output: per started minute."""
    return max(1, math.ceil(duration / 60)) * per_minute


async def reserve(
    job: JobContext,
    resources: Resources,
    *,
    tenant_id: str,
    media_job_id: str,
    created_at: datetime,
    amount: int,
) -> str | None:
    """Hold ``amount`` before encoding; the hold's id (None without billing). Unreachable
    billing fails the attempt (retried), and the last one fails the job: no unpaid work."""
    billing = resources.billing
    if billing is None or amount == 0:
        return None
    try:
        hold = await billing.reserve(
            spending_for(tenant_id),
            amount,
            reason="media.transcode",
            reference=media_job_id,
            idempotency_key=f"media-job:{media_job_id}:hold",
            # From the job's creation, not from now: a retry sends the very same request.
            expires_at=(created_at + HOLD_LIFETIME).replace(microsecond=0),
        )
    except InsufficientCredits as exc:
        raise JobFailed(
            "insufficient-credits",
            f"the transcode needs {amount} credits; {exc.available} are available",
        ) from exc
    except (BillingError, UpstreamUnavailable, httpx.HTTPError) as exc:
        if isinstance(exc, BillingError) and exc.status < 500:
            raise JobFailed("billing-refused", str(exc)) from exc
        if job.is_last_attempt:
            raise JobFailed(
                "billing-unavailable", "billing could not be reached to hold the credits"
            ) from exc
        raise
    async with job.unit_of_work() as session:
        row = await JobRepository(session).by_id(media_job_id)
        if row is not None:
            row.hold_id = hold.id
    return hold.id


async def capture(
    resources: Resources, *, tenant_id: str, media_job_id: str, hold_id: str | None, amount: int
) -> int | None:
    """Capture the hold (keyed by the job: a retry never charges twice); the amount charged."""
    if resources.billing is None or hold_id is None:
        return None
    hold = await resources.billing.capture(
        spending_for(tenant_id),
        hold_id,
        amount,
        idempotency_key=f"media-job:{media_job_id}:capture",
    )
    return hold.captured_amount


async def release(resources: Resources, tenant_id: str, media_job_id: str, hold_id: str) -> None:
    if resources.billing is None:
        return
    try:
        await resources.billing.release(
            spending_for(tenant_id),
            hold_id,
            idempotency_key=f"media-job:{media_job_id}:release",
        )
    except (BillingError, UpstreamUnavailable, httpx.HTTPError) as exc:
        # The hold lapses at its expiry anyway (billing releases expired holds).
        _log.warning("hold not released", job_id=media_job_id, hold_id=hold_id, error=repr(exc))

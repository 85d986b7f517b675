"""Credits for processing and clip rendering, through billing's internal API: one hold per video
(or clip) before any encoding, captured with the actual amount after, released on failure. Every
request is derived from the resource alone (keys and body), so a retried job sends the same ones
and is charged once."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import httpx

from v100.contracts.billing import BillingError, InsufficientCredits, spending_for
from v100.kit.errors import UpstreamUnavailable
from v100.kit.jobs import JobContext
from v100.kit.observability import get_logger
from v100.services.video_processing.errors import ProcessingFailed
from v100.services.video_processing.outputs import VideoJob
from v100.services.video_processing.repository import VideoRepository
from v100.services.video_processing.resources import Resources

__all__ = [
    "capture",
    "capture_hold",
    "credits_for",
    "hold_credits",
    "release_hold",
    "reserve",
]

_log = get_logger("v100.video_processing.credits")


def credits_for(duration: float, per_minute: int) -> int:
    """Credits for ``duration`` seconds of output: per started minute."""
    return max(1, math.ceil(duration / 60)) * per_minute


async def hold_credits(
    job: JobContext,
    resources: Resources,
    *,
    kind: str,
    resource_id: str,
    tenant_id: str,
    created_at: datetime,
    amount: int,
    horizon_seconds: float,
) -> str | None:
    """Hold ``amount`` credits for the ``kind`` ("video" or "clip") ``resource_id``; the hold's
    id (None when nothing is charged). Raises ``ProcessingFailed`` when billing refuses, and
    re-raises an unreachable billing (retried) until the job's last attempt."""
    billing = resources.billing
    if billing is None or amount == 0:
        return None
    # From the resource's creation, not from now: a retry must send the very same request, or
    # billing refuses the reused Idempotency-Key.
    lifetime = timedelta(seconds=min(horizon_seconds + 3600, 6 * 24 * 3600))
    expires_at = (created_at + lifetime).replace(microsecond=0)
    try:
        hold = await billing.reserve(
            spending_for(tenant_id),
            amount,
            reason="video.processing" if kind == "video" else f"video.{kind}",
            reference=resource_id,
            idempotency_key=f"{kind}:{resource_id}:hold",
            expires_at=expires_at,
        )
    except InsufficientCredits as exc:
        work = "processing" if kind == "video" else f"rendering the {kind}"
        raise ProcessingFailed(
            "insufficient-credits",
            f"{work} needs {amount} credits; {exc.available} are available",
        ) from exc
    except (BillingError, UpstreamUnavailable, httpx.HTTPError) as exc:
        if isinstance(exc, BillingError) and exc.status < 500:
            raise ProcessingFailed("billing-refused", str(exc)) from exc
        # Unreachable billing: retried with backoff; no work is done uncharged (docs/video.md).
        if job.is_last_attempt:
            raise ProcessingFailed(
                "billing-unavailable", "billing could not be reached to hold the credits"
            ) from exc
        raise
    return hold.id


async def reserve(
    job: JobContext, resources: Resources, video: VideoJob, amount: int
) -> str | None:
    """Hold the credits before any encoding. Keyed by the video: a retry gets the same hold."""
    settings = resources.settings
    hold_id = await hold_credits(
        job, resources, kind="video", resource_id=video.id, tenant_id=video.tenant_id,
        created_at=video.created_at, amount=amount,
        horizon_seconds=settings.processing_timeout_seconds * settings.processing_attempts,
    )  # fmt: skip
    if hold_id is None:
        return None
    async with job.unit_of_work() as session:
        row = await VideoRepository(session).by_id(video.id)
        if row is not None:
            row.hold_id = hold_id
    video.hold_id = hold_id
    return hold_id


async def release_hold(
    resources: Resources, tenant_id: str, resource_id: str, hold_id: str, *, kind: str = "video"
) -> None:
    if resources.billing is None:
        return
    try:
        await resources.billing.release(
            spending_for(tenant_id), hold_id, idempotency_key=f"{kind}:{resource_id}:release"
        )
    except (BillingError, UpstreamUnavailable, httpx.HTTPError) as exc:
        # The hold lapses at its expiry anyway (billing releases expired holds).
        _log.warning(
            "hold not released", kind=kind, id=resource_id, hold_id=hold_id, error=repr(exc)
        )


async def capture_hold(
    resources: Resources,
    tenant_id: str,
    resource_id: str,
    hold_id: str | None,
    amount: int,
    *,
    kind: str,
) -> int | None:
    """Capture ``amount`` of the hold (keyed by the resource: a retry never charges twice);
    the amount charged."""
    if resources.billing is None or hold_id is None:
        return None
    hold = await resources.billing.capture(
        spending_for(tenant_id),
        hold_id,
        amount,
        idempotency_key=f"{kind}:{resource_id}:capture",
    )
    return hold.captured_amount


async def capture(
    resources: Resources, video: VideoJob, hold_id: str | None, amount: int
) -> int | None:
    """Capture the video's hold; the amount charged."""
    return await capture_hold(resources, video.tenant_id, video.id, hold_id, amount, kind="video")

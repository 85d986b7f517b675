"""An endpoint's health: a run of failures starts its ``failing_since``, any success ends it;
410 Gone, or failures for ``disable_after_failing_seconds``, disable it. Disabling dead-letters
what waits for it, records a notification for the tenant's people and, after commit, announces
``endpoint.disabled`` (which itself becomes a message to the tenant's other endpoints and their
event stream)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import ENDPOINT_DISABLED, WEBHOOKS_STREAM, EndpointDisabled
from v100.kit.bus import Bus, Event
from v100.kit.db import new_id, session_hooks
from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger
from v100.services.integration.delivery_queue import DeliveryQueue
from v100.services.integration.models import Endpoint, Notification

__all__ = ["disable_endpoint", "record_failure", "record_success"]

_log = get_logger("v100.integration.health")
_REASONS = {
    "gone": "its receiver answered 410 Gone",
    "failing": "every delivery to it failed for days",
}


async def record_success(session: AsyncSession, endpoint_id: str) -> None:
    await session.execute(
        update(Endpoint)
        .where(Endpoint.id == endpoint_id, Endpoint.failing_since.is_not(None))
        .values(failing_since=None)
        .execution_options(synchronize_session=False)
    )


async def record_failure(
    session: AsyncSession,
    bus: Bus,
    endpoint_id: str,
    now: datetime,
    *,
    gone: bool,
    disable_after_seconds: float,
) -> None:
    await session.execute(
        update(Endpoint)
        .where(Endpoint.id == endpoint_id, Endpoint.failing_since.is_(None))
        .values(failing_since=now)
        .execution_options(synchronize_session=False)
    )
    endpoint = await session.get(Endpoint, endpoint_id, populate_existing=True)
    if endpoint is None or not endpoint.enabled:
        return
    since = endpoint.failing_since or now
    if gone:
        await disable_endpoint(session, bus, endpoint, "gone", now)
    elif (now - since).total_seconds() >= disable_after_seconds:
        await disable_endpoint(session, bus, endpoint, "failing", now)


async def disable_endpoint(
    session: AsyncSession, bus: Bus, endpoint: Endpoint, reason: str, now: datetime
) -> bool:
    """Disable ``endpoint`` (if still enabled) for ``reason``; whether this call did it."""
    result = await session.execute(
        update(Endpoint)
        .where(Endpoint.id == endpoint.id, Endpoint.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await DeliveryQueue(session).fail_open(endpoint.id, now, f"endpoint-disabled: {reason}")
    failing_since = endpoint.failing_since.isoformat() if endpoint.failing_since else None
    payload = EndpointDisabled(
        endpoint_id=endpoint.id,
        url=endpoint.url,
        reason="gone" if reason == "gone" else "failing",
        failing_since=failing_since,
    )
    why = _REASONS.get(reason, reason)
    session.add(
        Notification(
            id=new_id(),
            tenant_id=endpoint.tenant_id,
            kind=ENDPOINT_DISABLED,
            subject=f"Webhook endpoint disabled: {endpoint.url}"[:200],
            body=(
                f"Your webhook endpoint {endpoint.url} ({endpoint.id}) was disabled because "
                f"{why}. Messages that were waiting for it are in the dead-letter list. Fix the "
                "receiver, enable the endpoint again, then recover the failed messages."
            ),
            details=payload.model_dump(mode="json"),
            created_at=now,
        )
    )
    event = Event(
        type=ENDPOINT_DISABLED,
        source="integration",
        tenant_id=endpoint.tenant_id,
        data=payload.model_dump(mode="json"),
    )

    async def announce() -> None:
        try:
            await bus.publish(WEBHOOKS_STREAM, event)
        except BackendUnavailable as exc:
            _log.warning("endpoint.disabled not published", endpoint_id=endpoint.id, error=str(exc))

    session_hooks(session).after_commit(announce)
    _log.info("webhook endpoint disabled", endpoint_id=endpoint.id, reason=reason)
    return True

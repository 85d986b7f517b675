"""The balance events billing publishes on the ``credits`` stream after a commit:
``credits.low`` when the available balance falls below the threshold and ``credits.exhausted``
when it reaches zero, each once per crossing (not on every charge below the line)."""

from __future__ import annotations

from v100.kit.bus import Bus, Event
from v100.kit.observability import get_logger
from v100.services.billing.ledger import TenantLedger
from v100.services.billing.settings import BillingSettings

__all__ = ["announce_crossings", "crossings"]

_log = get_logger("v100.billing.events")


def crossings(before: int, after: int, threshold: int) -> list[str]:
    """The event types a move of the available balance from ``before`` to ``after`` crosses."""
    crossed: list[str] = []
    if before >= threshold > after:
        crossed.append("credits.low")
    if before > 0 >= after:
        crossed.append("credits.exhausted")
    return crossed


async def announce_crossings(
    bus: Bus | None, settings: BillingSettings, ledger: TenantLedger
) -> None:
    """Publish the crossings of one committed transaction. Each transaction starts from the
    balance its lock-holding predecessor left, so a crossing is announced exactly once."""
    if bus is None:
        return
    threshold = settings.low_balance_threshold
    for event_type in crossings(ledger.opening_available, ledger.available, threshold):
        event = Event(
            type=event_type,
            source="billing",
            tenant_id=ledger.tenant_id,
            data={
                "available": ledger.available,
                "previous": ledger.opening_available,
                "threshold": threshold,
            },
        )
        await bus.publish(settings.events_stream, event)
        _log.info("credits event", type=event_type, tenant_id=ledger.tenant_id)

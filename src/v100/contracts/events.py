"""Event types and payloads that cross service boundaries (DESIGN.md section 5), with the small
helpers services call to publish them. A consumer validates ``Event.data`` with the payload model
named next to the type, so producer and consumer agree on one schema."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from v100.kit.bus import Bus, Event
from v100.kit.errors import BackendUnavailable
from v100.kit.observability import get_logger

__all__ = [
    "CACHE_INVALIDATE",
    "CACHE_STREAM",
    "CacheInvalidation",
    "cache_invalidation_event",
    "publish_cache_invalidation",
]

_log = get_logger("v100.contracts.events")

# --- the gateway's response cache ---------------------------------------------------------------

# Durable, so an invalidation published while no gateway runs is applied when one starts.
CACHE_STREAM = "cache"
CACHE_INVALIDATE = "cache.invalidate"
_MAX_PREFIXES = 100
_MAX_PREFIX_LENGTH = 2048


class CacheInvalidation(BaseModel):
    """``data`` of ``cache.invalidate``: drop what the gateway cached under these public path
    prefixes (on segment boundaries: ``/v1/videos/1`` covers ``/v1/videos/1/clips`` but not
    ``/v1/videos/12``; ``/`` covers everything), for the event's tenant, or for every tenant
    when the event has none. Paths are written as they appear in URLs (percent-encoded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prefixes: tuple[str, ...] = Field(min_length=1, max_length=_MAX_PREFIXES)

    @field_validator("prefixes")
    @classmethod
    def _normalized(cls, prefixes: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for prefix in prefixes:
            if not prefix.startswith("/") or len(prefix) > _MAX_PREFIX_LENGTH:
                raise ValueError(
                    f"a prefix is an absolute path of 2048 characters at most: {prefix!r}"[:300]
                )
            if "?" in prefix or "#" in prefix:
                raise ValueError(f"a prefix is a path, without query or fragment: {prefix!r}")
            out.append(prefix.rstrip("/") or "/")
        return tuple(dict.fromkeys(out))


def cache_invalidation_event(
    *, source: str, tenant_id: str | None, prefixes: Iterable[str]
) -> Event:
    payload = CacheInvalidation(prefixes=tuple(prefixes))
    return Event(
        type=CACHE_INVALIDATE,
        source=source,
        tenant_id=tenant_id,
        data=payload.model_dump(mode="json"),
    )


async def publish_cache_invalidation(
    bus: Bus, *, source: str, tenant_id: str | None, prefixes: Iterable[str]
) -> bool:
    """Tell every gateway that the resources under ``prefixes`` changed; call it after the
    change is committed (``session_hooks(session).after_commit(...)``). Best effort by design:
    the change is already committed, so an unreachable bus is logged and answered False rather
    than failing the caller's request; cached answers then live out their ``max-age``."""
    event = cache_invalidation_event(source=source, tenant_id=tenant_id, prefixes=prefixes)
    try:
        await bus.publish(CACHE_STREAM, event)
    except BackendUnavailable as exc:
        _log.warning(
            "cache invalidation not published",
            source=source,
            tenant_id=tenant_id,
            prefixes=list(event.data["prefixes"]),
            error=str(exc),
        )
        return False
    return True

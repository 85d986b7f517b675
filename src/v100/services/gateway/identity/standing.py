"""Members' standing, read live: an access token says who signed in and is good for 15 minutes,
but whether that member still belongs to the tenant, is enabled, and with which role, is read
from the database and trusted in-process for a few seconds only. So a removed, disabled or
demoted member loses power within ``member_cache_seconds`` on every replica (at once on the one
that made the change), whatever tokens they hold."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["MemberCache", "Standing"]


@dataclass(frozen=True, slots=True)
class Standing:
    """A member as the database has them now; ``role`` is None once they are gone."""

    role: str | None
    disabled: bool = False


class MemberCache:
    """(tenant, user) -> Standing for ``ttl_seconds``; bounded, oldest dropped first."""

    def __init__(self, ttl_seconds: float, *, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[float, Standing]] = OrderedDict()
        # Bumped by every invalidation: a read that began before a change may have seen the
        # old row, so ``put`` refuses its answer (the same rule as ApiKeyCache).
        self.generation = 0

    def get(self, tenant_id: str, user_id: str) -> Standing | None:
        entry = self._entries.get((tenant_id, user_id))
        if entry is None:
            return None
        stored_at, standing = entry
        if time.monotonic() - stored_at >= self.ttl_seconds:
            del self._entries[(tenant_id, user_id)]
            return None
        return standing

    def put(self, tenant_id: str, user_id: str, standing: Standing, *, generation: int) -> None:
        if self.ttl_seconds <= 0 or generation != self.generation:
            return
        self._entries[(tenant_id, user_id)] = (time.monotonic(), standing)
        self._entries.move_to_end((tenant_id, user_id))
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, tenant_id: str, user_id: str) -> None:
        self.generation += 1
        self._entries.pop((tenant_id, user_id), None)

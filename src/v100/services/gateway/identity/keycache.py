"""The in-process cache of resolved API keys, keyed by the key's digest: API keys are checked on
every request, so a key is read from the database once per TTL, not once per call. Revoking a
key here drops it at once; other replicas see the revocation when their entry expires."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from v100.kit.auth import Principal

__all__ = ["ApiKeyCache", "ResolvedKey"]


@dataclass(frozen=True, slots=True)
class ResolvedKey:
    """What a key digest resolved to. ``principal`` is None for a key that does not exist or
    cannot be used (cached too, so a flood of made-up keys does not reach the database)."""

    principal: Principal | None
    expires_at: datetime | None = None
    # The key's creator, kept for unusable keys too: re-enabling a user must drop the
    # "nobody" entries their disabling left behind.
    creator_id: str | None = None


class ApiKeyCache:
    def __init__(
        self, ttl_seconds: float, *, max_entries: int = 10_000, touch_every: float = 60.0
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._max_entries = max_entries
        self._touch_every = touch_every
        self._entries: OrderedDict[str, tuple[float, ResolvedKey]] = OrderedDict()
        self._touched: dict[str, float] = {}
        # Bumped by every invalidation. A lookup that started before one may have read the row
        # before the change committed, so ``put`` refuses its answer (see ``generation``).
        self._generation = 0

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, key_hash: str) -> ResolvedKey | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        stored_at, resolved = entry
        if time.monotonic() - stored_at >= self.ttl_seconds:
            del self._entries[key_hash]
            return None
        return resolved

    def put(self, key_hash: str, resolved: ResolvedKey, *, generation: int) -> None:
        if self.ttl_seconds <= 0 or generation != self._generation:
            return
        self._entries[key_hash] = (time.monotonic(), resolved)
        self._entries.move_to_end(key_hash)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)  # the oldest entry

    def invalidate(self, key_hashes: str | list[str]) -> None:
        self._generation += 1
        for key_hash in [key_hashes] if isinstance(key_hashes, str) else key_hashes:
            self._entries.pop(key_hash, None)

    def invalidate_user(self, user_id: str) -> None:
        """Drop the keys ``user_id`` created: their role or standing has changed."""
        self._generation += 1
        stale = [
            key_hash
            for key_hash, (_, resolved) in self._entries.items()
            if resolved.creator_id == user_id
        ]
        for key_hash in stale:
            del self._entries[key_hash]

    def touch_is_due(self, key_id: str) -> bool:
        """What ``due_for_touch`` would answer, without marking the key touched."""
        last = self._touched.get(key_id)
        return last is None or time.monotonic() - last >= self._touch_every

    def due_for_touch(self, key_id: str) -> bool:
        """True at most once per ``touch_every`` seconds per key: ``last_used_at`` is a hint
        for people reviewing their keys, not an audit log, and writing it on every request
        would put a database write on the hot path."""
        now = time.monotonic()
        last = self._touched.get(key_id)
        if last is not None and now - last < self._touch_every:
            return False
        if len(self._touched) >= self._max_entries:
            self._touched.clear()
        self._touched[key_id] = now
        return True

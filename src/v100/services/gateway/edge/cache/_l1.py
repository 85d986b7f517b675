"""The in-process tier (L1): least-recently-used eviction within a byte budget, a time to live
per slot, and an index by tenant so an invalidation drops exactly the slots under its path
prefixes without scanning other tenants'. Used from the event loop only (no locks)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

__all__ = ["MemoryTier", "covered"]


def covered(path: str, prefixes: Iterable[str]) -> bool:
    """Whether ``path`` lies under one of ``prefixes`` on a segment boundary."""
    for prefix in prefixes:
        if prefix == "/" or path == prefix or path.startswith(prefix + "/"):
            return True
    return False


@dataclass(slots=True)
class _Slot:
    value: object
    expires_at: float  # monotonic
    size: int
    tenant: str
    path: str


class MemoryTier:
    """Slots hold stored answers, Vary indexes and hit-for-miss marks alike; each knows its
    tenant and path so invalidation can find it."""

    def __init__(self, max_bytes: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self._clock = clock
        self._slots: OrderedDict[Hashable, _Slot] = OrderedDict()
        self._by_tenant: dict[str, set[Hashable]] = {}
        self.bytes_used = 0

    def __len__(self) -> int:
        return len(self._slots)

    def get(self, key: Hashable, *, peek: bool = False) -> tuple[object | None, bool]:
        """``(value, expired)``: the live value, or None with whether one had just expired
        (dropped then, unless ``peek``: a later ``get`` still sees it expired)."""
        slot = self._slots.get(key)
        if slot is None:
            return None, False
        if self._clock() >= slot.expires_at:
            if not peek:
                self._drop(key)
            return None, True
        self._slots.move_to_end(key)
        return slot.value, False

    def put(
        self, key: Hashable, value: object, ttl: float, *, tenant: str, path: str, size: int
    ) -> None:
        slot = self._slots.get(key)
        if (
            slot is not None
            and ttl > 0
            and slot.size == size
            and slot.tenant == tenant
            and slot.path == path
        ):
            # The same slot again (a hit-for-miss mark renewed on every proxied read): kept in
            # place, as new and as recent as a fresh one; the bytes held do not change.
            slot.value = value
            slot.expires_at = self._clock() + ttl
            self._slots.move_to_end(key)
            return
        self._drop(key)
        if ttl <= 0 or size > self.max_bytes:
            return  # one slot that would evict everything else is not worth keeping
        self._slots[key] = _Slot(value, self._clock() + ttl, size, tenant, path)
        self._by_tenant.setdefault(tenant, set()).add(key)
        self.bytes_used += size
        while self.bytes_used > self.max_bytes:
            self._drop(next(iter(self._slots)))

    def delete(self, key: Hashable) -> None:
        self._drop(key)

    def drop_prefixes(self, tenant: str | None, prefixes: Iterable[str]) -> int:
        """Forget every slot of ``tenant`` (of every tenant when None) under ``prefixes``."""
        prefixes = tuple(prefixes)
        tenants = list(self._by_tenant) if tenant is None else [tenant]
        dropped = 0
        for name in tenants:
            for key in list(self._by_tenant.get(name, ())):
                slot = self._slots.get(key)
                if slot is not None and covered(slot.path, prefixes):
                    self._drop(key)
                    dropped += 1
        return dropped

    def clear(self) -> None:
        self._slots.clear()
        self._by_tenant.clear()
        self.bytes_used = 0

    def _drop(self, key: Hashable) -> None:
        slot = self._slots.pop(key, None)
        if slot is None:
            return
        self.bytes_used -= slot.size
        keys = self._by_tenant.get(slot.tenant)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_tenant[slot.tenant]

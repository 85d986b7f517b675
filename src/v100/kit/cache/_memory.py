"""The in-process cache of the embedded mode: least-recently-used eviction within a byte
budget, plus a time to live per entry."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from v100.kit.cache._base import Cache, check_ttl

__all__ = ["DEFAULT_MAX_BYTES", "MemoryCache"]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class MemoryCache(Cache):
    """The budget counts key and value bytes, not Python's per-entry overhead, so size it with
    some room. Expired entries are dropped when read or when they reach the least-recently-used
    end. Safe from the event loop and from worker threads alike (one lock, no awaits inside)."""

    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self._clock = clock
        # key -> (value, expires_at or None); least recently used first.
        self._entries: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def _size(key: str, value: bytes) -> int:
        return len(key.encode()) + len(value)

    def _drop(self, key: str) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self._bytes -= self._size(key, entry[0])
        return True

    async def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            value, expires_at = entry
            if expires_at is not None and self._clock() >= expires_at:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return value

    async def set(self, key: str, value: bytes, ttl_seconds: float | None) -> None:
        check_ttl(ttl_seconds)
        size = self._size(key, value)
        with self._lock:
            self._drop(key)
            if size > self.max_bytes:
                return  # would evict everything else and still not fit
            now = self._clock()
            expires_at = None if ttl_seconds is None else now + ttl_seconds
            self._entries[key] = (bytes(value), expires_at)
            self._bytes += size
            while self._bytes > self.max_bytes:
                oldest = next(iter(self._entries))
                self._drop(oldest)

    async def delete(self, key: str) -> bool:
        with self._lock:
            return self._drop(key)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

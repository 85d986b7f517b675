"""The cache: bytes by key with a time to live, an LRU within a byte budget in-process for the
embedded mode, Redis for the distributed one. Failures of the Redis backend surface as
``v100.kit.errors.BackendUnavailable``; callers usually treat that as a miss."""

from __future__ import annotations

from v100.kit.cache._base import Cache
from v100.kit.cache._memory import DEFAULT_MAX_BYTES, MemoryCache
from v100.kit.cache._redis import RedisCache
from v100.kit.errors import BackendUnavailable

__all__ = [
    "DEFAULT_MAX_BYTES",
    "BackendUnavailable",
    "Cache",
    "MemoryCache",
    "RedisCache",
    "create_cache",
]


def create_cache(
    redis_url: str | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    *,
    prefix: str = "v100:",
) -> Cache:
    """The cache for this deployment. Each in-process cache is its owner's own (one budget per
    service); in Redis, callers sharing a prefix share entries, so keys should start with the
    owning service's name. ``max_bytes`` bounds only the in-process cache."""
    if redis_url is None:
        return MemoryCache(max_bytes)
    return RedisCache(redis_url, prefix=prefix)

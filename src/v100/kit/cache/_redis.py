"""The distributed cache on Redis (GET, SET PX, DEL) under one key prefix (``v100:cache:`` by
default). Redis' own ``maxmemory`` policy bounds its size, not this client."""

from __future__ import annotations

from redis.exceptions import RedisError

from v100.kit._redis import connect, unavailable
from v100.kit.cache._base import Cache, check_ttl

__all__ = ["RedisCache"]


class RedisCache(Cache):
    def __init__(self, url: str, *, prefix: str = "v100:") -> None:
        self._redis = connect(url)
        self._prefix = f"{prefix}cache:"

    async def get(self, key: str) -> bytes | None:
        async with unavailable("cache get"):
            value = await self._redis.get(self._prefix + key)
        if value is None or isinstance(value, bytes):
            return value
        return value.encode()  # unreachable with decode_responses off; keeps the type honest

    async def set(self, key: str, value: bytes, ttl_seconds: float | None) -> None:
        check_ttl(ttl_seconds)
        # Milliseconds, at least one: a sub-millisecond TTL must still expire, not live forever.
        px = None if ttl_seconds is None else max(1, round(ttl_seconds * 1000))
        async with unavailable("cache set"):
            await self._redis.set(self._prefix + key, value, px=px)

    async def delete(self, key: str) -> bool:
        async with unavailable("cache delete"):
            return bool(await self._redis.delete(self._prefix + key))

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()

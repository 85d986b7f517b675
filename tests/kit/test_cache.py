"""The cache on both backends: round trips, time to live, the in-process byte budget (LRU),
and surviving a Redis restart."""

from __future__ import annotations

import asyncio

import pytest

from v100.kit.cache import (
    BackendUnavailable,
    Cache,
    MemoryCache,
    RedisCache,
    create_cache,
)
from v100.kit.testing.bus import RedisServer

pytestmark = pytest.mark.time_sensitive


async def test_set_get_delete(cache: Cache) -> None:
    assert await cache.get("gateway:k") is None
    await cache.set("gateway:k", b"v1", ttl_seconds=60)
    assert await cache.get("gateway:k") == b"v1"
    await cache.set("gateway:k", b"v2", ttl_seconds=60)
    assert await cache.get("gateway:k") == b"v2"
    assert await cache.delete("gateway:k") is True
    assert await cache.delete("gateway:k") is False
    assert await cache.get("gateway:k") is None


async def test_binary_values_round_trip(cache: Cache) -> None:
    value = bytes(range(256)) * 40
    await cache.set("blob", value, ttl_seconds=60)
    assert await cache.get("blob") == value


async def test_entries_expire_after_their_ttl(cache: Cache) -> None:
    await cache.set("short", b"x", ttl_seconds=0.2)
    await cache.set("long", b"y", ttl_seconds=60)
    await cache.set("forever", b"z", ttl_seconds=None)
    assert await cache.get("short") == b"x"
    await asyncio.sleep(0.35)
    assert await cache.get("short") is None
    assert await cache.get("long") == b"y"
    assert await cache.get("forever") == b"z"


async def test_ttl_must_be_positive(cache: Cache) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        await cache.set("k", b"v", ttl_seconds=0)


async def test_ping(cache: Cache) -> None:
    assert await cache.ping() is True


async def test_memory_cache_evicts_least_recently_used_within_budget() -> None:
    cache = MemoryCache(max_bytes=100)
    for key in ("a", "b", "c"):
        await cache.set(key, b"x" * 30, ttl_seconds=None)  # 31 bytes each with the key
    assert cache.bytes_used == 93
    assert await cache.get("a") is not None  # "a" is now the most recently used
    await cache.set("d", b"x" * 30, ttl_seconds=None)
    assert await cache.get("b") is None
    assert [await cache.get(k) is not None for k in ("a", "c", "d")] == [True, True, True]
    assert cache.bytes_used == 93
    assert len(cache) == 3


async def test_memory_cache_large_entry_makes_room() -> None:
    cache = MemoryCache(max_bytes=100)
    for key in ("a", "b", "c"):
        await cache.set(key, b"x" * 30, ttl_seconds=None)
    await cache.set("big", b"y" * 90, ttl_seconds=None)
    assert [await cache.get(k) for k in ("a", "b", "c")] == [None, None, None]
    assert await cache.get("big") == b"y" * 90
    assert cache.bytes_used == 93


async def test_memory_cache_skips_entry_larger_than_budget() -> None:
    cache = MemoryCache(max_bytes=100)
    await cache.set("k", b"small", ttl_seconds=None)
    await cache.set("k", b"z" * 200, ttl_seconds=None)
    # The stale small value must not survive a failed overwrite.
    assert await cache.get("k") is None
    assert cache.bytes_used == 0


async def test_memory_cache_expired_entries_free_their_bytes() -> None:
    now = [1000.0]
    cache = MemoryCache(max_bytes=1000, clock=lambda: now[0])
    await cache.set("k", b"x" * 99, ttl_seconds=10)
    now[0] += 9.9
    assert await cache.get("k") == b"x" * 99
    now[0] += 0.2
    assert await cache.get("k") is None
    assert cache.bytes_used == 0


def test_create_cache_picks_the_backend() -> None:
    first, second = create_cache(None, max_bytes=1234), create_cache(None)
    assert isinstance(first, MemoryCache)
    assert first.max_bytes == 1234
    assert first is not second  # each owner keeps its own budget
    assert isinstance(create_cache("redis://127.0.0.1:1/0"), RedisCache)


async def test_redis_cache_survives_a_restart(redis_server: RedisServer) -> None:
    cache = RedisCache(redis_server.url)
    try:
        await cache.set("k", b"v", ttl_seconds=60)
        assert await cache.get("k") == b"v"
        await redis_server.stop()
        assert await cache.ping() is False
        with pytest.raises(BackendUnavailable):
            await cache.get("k")
        with pytest.raises(BackendUnavailable):
            await cache.set("k", b"v", ttl_seconds=60)
        await redis_server.start()
        assert await cache.ping() is True
        assert await cache.get("k") is None  # the restarted server kept nothing
        await cache.set("k", b"again", ttl_seconds=60)
        assert await cache.get("k") == b"again"
    finally:
        await cache.close()

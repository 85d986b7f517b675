"""The response cache across gateway replicas sharing real Redis (two gateway apps, one identity
database, one origin): a miss is fetched once for all of them, an entry stored by one serves the
other, an invalidation reaches every replica, and a Redis outage leaves each replica serving
from its own memory until Redis is back."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from yarl import URL

from v100.contracts.events import publish_cache_invalidation
from v100.kit.testing.bus import redis_url_or_skip
from v100.kit.testing.net import CuttableTcpProxy

from .response_cache_support import (
    CachingGateway,
    Caller,
    Origin,
    cache_status,
    callers,
    gateway_serving,
    hit,
    origin_serving,
    results,
    unique,
)

PUBLIC = "cc=public,max-age=60"


@dataclass
class Replicas:
    origin: Origin
    gateways: list[CachingGateway]
    clients: list[httpx.AsyncClient]
    who: dict[str, Caller]
    prefix: str

    async def get(self, replica: int, url: str, caller: str = "a") -> httpx.Response:
        return await self.clients[replica].get(url, headers=self.who[caller].headers)


@pytest.fixture
async def replicas(tmp_path: Path, redis_prefix: str) -> AsyncIterator[Replicas]:
    redis_url = redis_url_or_skip()
    prefix = f"{redis_prefix}rc:"
    database = f"sqlite+aiosqlite:///{tmp_path}/identity.db"
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with (
        origin_serving(tmp_path, redis_url) as origin,
        gateway_serving(
            tmp_path, origin, redis_url=redis_url, redis_prefix=prefix, database_url=database
        ) as first,
        gateway_serving(
            tmp_path, origin, redis_url=redis_url, redis_prefix=prefix, database_url=database
        ) as second,
        first.client(limits=limits) as one,
        second.client(limits=limits) as two,
    ):
        yield Replicas(origin, [first, second], [one, two], await callers(first), prefix)


async def test_a_miss_is_fetched_once_for_every_replica(replicas: Replicas) -> None:
    url = f"{unique()}?{PUBLIC}&delay=0.3"
    answers = await asyncio.gather(
        *(replicas.get(replica, url) for replica in (0, 1) for _ in range(100))
    )
    assert {answer.status_code for answer in answers} == {200}
    assert replicas.origin.count(url) == 1
    assert {answer.json()["hit"] for answer in answers} == {1}
    assert Counter(results(answers))["miss"] == 1


async def test_an_entry_one_replica_stored_serves_the_other(replicas: Replicas) -> None:
    url = f"{unique()}?{PUBLIC}"
    stored = await replicas.get(0, url)
    assert "stored" in cache_status(stored)
    shared = await replicas.get(1, url)
    assert hit(shared), cache_status(shared)
    assert shared.json() == stored.json()
    # Not across tenants, even in Redis.
    other = await replicas.get(1, url, "b")
    assert not hit(other)
    assert other.json()["tenant_id"] == replicas.who["b"].tenant_id
    assert replicas.origin.count(url) == 2


async def test_an_invalidation_reaches_every_replica(replicas: Replicas) -> None:
    base = unique("inv")
    url = f"{base}/items?{PUBLIC}"
    await replicas.get(0, url)
    for replica in (0, 1):
        assert hit(await replicas.get(replica, url))  # in both memories now
    tenant = replicas.who["a"].tenant_id
    assert await publish_cache_invalidation(
        replicas.origin.bus, source="billing", tenant_id=tenant, prefixes=[base]
    )
    for replica in (0, 1):
        for _ in range(100):
            answer = await replicas.get(replica, url)
            if answer.json()["hit"] != 1:
                break
            await asyncio.sleep(0.02)
        # The answer from before the change is gone; the fresh one may be a hit already (the
        # other replica refetched and stored it in Redis).
        assert answer.json()["hit"] != 1, f"replica {replica} still serves the invalidated entry"
    assert 2 <= replicas.origin.count(url) <= 3


async def test_waiters_on_another_replica_are_released_when_not_cacheable(
    replicas: Replicas,
) -> None:
    url = f"{unique()}?cc=private&delay=0.5"
    began = time.perf_counter()
    answers = await asyncio.gather(
        *(replicas.get(replica, url) for replica in (0, 1) for _ in range(10))
    )
    took = time.perf_counter() - began
    assert replicas.origin.count(url) == 20
    seen = Counter(results(answers))
    # One leader fetched; the other replica's leader waited on the lock and was released with
    # its own waiters; everyone else waited in-process and was released.
    assert seen["miss"] == 1
    assert seen["released"] == 19
    # Released when the leader's answer came (about two origin delays), not at the end of the
    # 10 s lock wait; the margin is for a loaded CI machine.
    assert took < 8, took


async def test_redis_away_leaves_memory_serving_and_recovery_brings_it_back(
    tmp_path: Path, redis_prefix: str
) -> None:
    real = URL(redis_url_or_skip())
    proxy = CuttableTcpProxy(real.host or "127.0.0.1", real.port or 6379)
    await proxy.open()
    cut_url = f"redis://127.0.0.1:{proxy.port}{real.path}"
    prefix = f"{redis_prefix}rc:"
    try:
        async with (
            origin_serving(tmp_path, str(real)) as origin,
            gateway_serving(
                tmp_path,
                origin,
                redis_url=str(real),
                redis_prefix=prefix,
                response_cache_redis_url=cut_url,
            ) as gateway,
            gateway.client() as http,
        ):
            who = await callers(gateway)
            headers = who["a"].headers
            kept, during = f"{unique()}?{PUBLIC}", f"{unique()}?{PUBLIC}"
            assert "stored" in cache_status(await http.get(kept, headers=headers))

            await proxy.cut()
            assert hit(await http.get(kept, headers=headers))  # memory still serves
            first = await http.get(during, headers=headers)
            assert first.status_code == 200  # a miss still reaches the origin
            assert hit(await http.get(during, headers=headers))
            ready = await http.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["response_cache"].startswith("down")
            assert "v100_gateway_cache_l2_up 0.0" in (await http.get("/metrics")).text

            await proxy.open()
            for _ in range(100):
                if (await http.get("/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
            assert (await http.get("/ready")).status_code == 200
            # Memory started over (invalidations may have been missed meanwhile); the entry
            # stored before the outage comes back from Redis, without the origin.
            again = await http.get(kept, headers=headers)
            assert hit(again)
            assert origin.count(kept) == 1
            after = f"{unique()}?{PUBLIC}"
            await http.get(after, headers=headers)
            client = aioredis.Redis.from_url(str(real))
            try:
                entries = [key async for key in client.scan_iter(match=f"{prefix}e:*")]
            finally:
                await client.aclose()
            assert len(entries) >= 2, entries  # written to Redis again
    finally:
        await proxy.cut()

"""The response cache through the real gateway and a real origin, embedded and on Redis: what
is stored and for how long, what never is, how answers are kept apart (tenants, credential
scopes, Vary), conditional requests, coalescing of concurrent misses, invalidation by a bus
event, and large answers that stream through."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from v100.contracts.events import publish_cache_invalidation
from v100.kit.testing.bus import BACKENDS, redis_url_or_skip

from .response_cache_support import (
    ROUTE,
    CachingGateway,
    Caller,
    Origin,
    cache_status,
    callers,
    gateway_serving,
    hit,
    origin_serving,
    pattern_sha256,
    results,
    unique,
)

PUBLIC = "cc=public,max-age=60"


@dataclass
class World:
    origin: Origin
    gateway: CachingGateway
    who: dict[str, Caller]
    http: httpx.AsyncClient

    async def get(self, url: str, caller: str = "a", **headers: str) -> httpx.Response:
        return await self.http.get(url, headers={**self.who[caller].headers, **headers})


async def world_for(
    request: pytest.FixtureRequest, tmp_path: Path, max_body: int = 1024**2
) -> AsyncIterator[World]:
    """The origin and the gateway, with their callers (``http`` is the module's first client:
    each test takes a client of its own, ``fresh``)."""
    redis_url: str | None = None
    prefix = "v100:gateway:rc:"
    if request.param == "redis":
        redis_url = redis_url_or_skip()
        prefix = f"{request.getfixturevalue('module_redis_prefix')}rc:"
    async with (
        origin_serving(tmp_path, redis_url) as origin,
        gateway_serving(
            tmp_path,
            origin,
            redis_url=redis_url,
            redis_prefix=prefix,
            response_cache_max_body_bytes=max_body,
        ) as gateway,
    ):
        who = await callers(gateway)
        async with gateway.client() as http:
            yield World(origin, gateway, who, http)


@asynccontextmanager
async def fresh(world: World) -> AsyncIterator[World]:
    """The same servers and callers with a client of the test's own, its connections new (one
    kept from an earlier test may have been closed by the server meanwhile: a ReadError)."""
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with world.gateway.client(limits=limits) as http:
        yield World(world.origin, world.gateway, world.who, http)


# One origin and gateway per backend for the module (its tests run on the module's loop, where
# the servers live): each test asks for URLs of its own (``unique``), so its entries, and what
# reached the origin for them, are its own.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    async for made in world_for(request, tmp_path_factory.mktemp("world")):
        yield made


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def small_servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    """A gateway that stores answers of 64 KiB at most."""
    async for made in world_for(request, tmp_path_factory.mktemp("world"), max_body=64 * 1024):
        yield made


@pytest_asyncio.fixture(loop_scope="module")
async def world(servers: World) -> AsyncIterator[World]:
    async with fresh(servers) as made:
        yield made


@pytest_asyncio.fixture(loop_scope="module")
async def small_world(small_servers: World) -> AsyncIterator[World]:
    async with fresh(small_servers) as made:
        yield made


def counted(metrics: str, sample: str) -> float:
    """The value of one sample (name and labels, as exposed) in the metrics, 0 if absent."""
    for line in metrics.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_cacheable_answer_is_stored_then_served_with_its_age(world: World) -> None:
    url = f"{unique()}?{PUBLIC}"
    first = await world.get(url)
    assert first.status_code == 200
    assert "fwd=uri-miss" in cache_status(first)
    assert "stored" in cache_status(first)
    await asyncio.sleep(1.05)
    second = await world.get(url)
    assert second.status_code == 200
    assert hit(second), cache_status(second)
    assert int(second.headers["age"]) >= 1
    assert second.json() == first.json()
    assert second.headers["cache-control"] == "public,max-age=60"
    head = await world.http.head(url, headers=world.who["a"].headers)
    assert head.status_code == 200
    assert hit(head)
    assert head.content == b""
    assert head.headers["content-length"] == first.headers["content-length"]
    assert world.origin.count(url) == 1


async def test_an_entry_lives_as_long_as_s_maxage_says(world: World) -> None:
    # s-maxage is meant for shared caches such as this one: it wins over max-age.
    url = f"{unique()}?cc=max-age=600,s-maxage=1"
    await world.get(url)
    assert hit(await world.get(url))
    await asyncio.sleep(1.1)
    again = await world.get(url)
    assert not hit(again)
    assert "fwd=stale" in cache_status(again)
    assert again.json()["hit"] == 2
    assert world.origin.count(url) == 2


@pytest.mark.parametrize(
    "query",
    [
        "cc=private,max-age=60",
        "cc=no-store",
        "cc=public,no-cache,max-age=60",
        # An authenticated request's answer is shared only when the upstream says so
        # (RFC 9111 section 3.5): max-age alone stays with its one caller.
        "cc=max-age=60",
        "cc=public,max-age=60&cookie=1",
        "cc=public,max-age=60&status=500",
        "cc=public,max-age=60&vary=*",
        "cc=public",
    ],
)
async def test_answers_not_meant_for_sharing_are_never_stored(world: World, query: str) -> None:
    url = f"{unique()}?{query}"
    answers = [await world.get(url) for _ in range(3)]
    assert not any(hit(answer) for answer in answers)
    assert [answer.json()["hit"] for answer in answers] == [1, 2, 3]
    assert world.origin.count(url) == 3


async def test_vary_keeps_variants_apart(world: World) -> None:
    url = f"{unique()}?{PUBLIC}&vary=Accept-Language"
    english = await world.get(url, **{"Accept-Language": "en"})
    french = await world.get(url, **{"Accept-Language": "fr"})
    assert not hit(french)
    assert "fwd=vary-miss" in cache_status(french)
    for language in ("en", "fr", "en"):
        again = await world.get(url, **{"Accept-Language": language})
        assert hit(again)
        assert again.json()["language"] == language
    assert english.json()["language"] == "en"
    absent = await world.get(url)
    assert not hit(absent)
    assert absent.json()["language"] is None
    assert world.origin.count(url) == 3


async def test_no_answer_crosses_tenants(world: World) -> None:
    url = f"{unique()}?{PUBLIC}"
    a = await world.get(url, "a")
    b = await world.get(url, "b")
    assert not hit(b)
    assert a.json()["tenant_id"] == world.who["a"].tenant_id
    assert b.json()["tenant_id"] == world.who["b"].tenant_id
    for caller in ("a", "b", "a", "b"):
        again = await world.get(url, caller)
        assert hit(again)
        assert again.json()["tenant_id"] == world.who[caller].tenant_id
    assert world.origin.count(url) == 2


async def test_a_narrower_credential_never_sees_a_broader_ones_answer(world: World) -> None:
    url = f"{unique()}?{PUBLIC}"
    broad = await world.get(url, "a")
    narrow = await world.get(url, "a_narrow")
    user = await world.get(url, "user_a")
    assert not hit(narrow)
    assert not hit(user)  # a user's token and a key of the same scopes are other audiences
    assert narrow.json()["scopes"] == ["credits:read"]
    assert broad.json()["scopes"] == ["*"]
    assert user.json()["user_id"] is not None
    for caller in ("a_narrow", "a", "user_a"):
        again = await world.get(url, caller)
        assert hit(again)
        assert again.json()["scopes"] == world.who[caller].scopes
    assert world.origin.count(url) == 3


async def test_if_none_match_is_answered_304_from_the_cache(world: World) -> None:
    url = f'{unique()}?{PUBLIC}&etag="v1"'
    first = await world.get(url)
    assert first.headers["etag"] == '"v1"'
    weak = await world.get(url, **{"If-None-Match": 'W/"v1"'})
    assert weak.status_code == 304
    assert weak.content == b""
    assert weak.headers["etag"] == '"v1"'
    assert weak.headers["cache-control"] == "public,max-age=60"
    assert hit(weak)
    listed = await world.get(url, **{"If-None-Match": '"v0", "v1"'})
    assert listed.status_code == 304
    other = await world.get(url, **{"If-None-Match": '"v2"'})
    assert other.status_code == 200
    assert other.json() == first.json()
    assert world.origin.count(url) == 1


async def test_a_conditional_miss_fetches_the_whole_answer_and_answers_304(world: World) -> None:
    url = f'{unique()}?{PUBLIC}&etag="v1"'
    first = await world.get(url, **{"If-None-Match": '"v1"'})
    assert first.status_code == 304
    assert "stored" in cache_status(first)
    whole = await world.get(url)
    assert hit(whole)
    # The cache asked the origin for the representation itself, not for a 304.
    assert whole.json()["if_none_match"] is None
    assert world.origin.count(url) == 1


async def test_200_concurrent_identical_misses_reach_the_upstream_once(world: World) -> None:
    url = f"{unique()}?{PUBLIC}&delay=0.3"
    answers = await asyncio.gather(*(world.get(url) for _ in range(200)))
    assert {answer.status_code for answer in answers} == {200}
    assert world.origin.count(url) == 1
    assert {answer.json()["hit"] for answer in answers} == {1}
    seen = Counter(results(answers))
    assert seen["miss"] == 1
    assert seen["collapsed"] + seen["hit"] == 199


async def test_concurrent_misses_of_other_tenants_are_never_coalesced(world: World) -> None:
    url = f"{unique()}?{PUBLIC}&delay=0.3"
    callers = ["a", "b", "a_narrow"] * 20
    answers = await asyncio.gather(*(world.get(url, caller) for caller in callers))
    for caller, answer in zip(callers, answers, strict=True):
        assert answer.json()["tenant_id"] == world.who[caller].tenant_id
        assert answer.json()["scopes"] == world.who[caller].scopes
    assert world.origin.count(url) == 3


async def test_waiters_are_released_when_the_answer_is_not_cacheable(world: World) -> None:
    url = f"{unique()}?cc=private,max-age=60&delay=0.5"
    began = time.perf_counter()
    answers = await asyncio.gather(*(world.get(url) for _ in range(20)))
    took = time.perf_counter() - began
    assert world.origin.count(url) == 20
    seen = Counter(results(answers))
    assert seen == {"miss": 1, "released": 19}
    # Released when the leader's answer came (about two origin delays), not at the end of
    # their 10 s wait; the margin is for a loaded CI machine.
    assert took < 8, took
    # Then hit-for-miss: for a while nobody waits for anyone on this URL (a waiter would be
    # counted as released).
    answers = await asyncio.gather(*(world.get(url) for _ in range(20)))
    assert Counter(results(answers)) == {"miss": 20}
    assert world.origin.count(url) == 40


async def test_a_bus_event_invalidates_entries_under_its_prefixes(world: World) -> None:
    base = unique("inv")
    items, sibling = f"{base}/items?{PUBLIC}", f"{base}x?{PUBLIC}"
    for url, caller in ((items, "a"), (sibling, "a"), (items, "b")):
        await world.get(url, caller)
        assert hit(await world.get(url, caller))
    before = world.origin.count(items)
    published = await publish_cache_invalidation(
        world.origin.bus, source="billing", tenant_id=world.who["a"].tenant_id, prefixes=[base]
    )
    assert published
    for _ in range(100):
        answer = await world.get(items, "a")
        if not hit(answer):
            break
        await asyncio.sleep(0.02)
    assert not hit(answer), "the invalidation never reached the cache"
    assert world.origin.count(items) == before + 1
    assert hit(await world.get(sibling, "a"))  # /inv/<id>x is not under /inv/<id>
    assert hit(await world.get(items, "b"))  # tenant B's entry is B's
    assert hit(await world.get(items, "a"))  # and the fresh answer is stored again


async def test_large_answers_stream_through_and_are_not_stored(small_world: World) -> None:
    size = 3 * 1024 * 1024
    url = f"{unique()}?{PUBLIC}&size={size}"
    for expected in (1, 2):
        digest = hashlib.sha256()
        async with small_world.http.stream(
            "GET", url, headers=small_world.who["a"].headers
        ) as response:
            assert response.status_code == 200
            assert "stored" not in cache_status(response)
            async for chunk in response.aiter_bytes():
                digest.update(chunk)
        assert digest.hexdigest() == pattern_sha256(size)
        assert small_world.origin.count(url) == expected
    small = f"{unique()}?{PUBLIC}&size={60 * 1024}"
    await small_world.get(small)
    assert hit(await small_world.get(small))


async def test_a_client_asking_for_a_fresh_answer_bypasses_the_cache(world: World) -> None:
    url = f"{unique()}?{PUBLIC}"
    await world.get(url)
    for header, value in (("Cache-Control", "no-cache"), ("Pragma", "no-cache")):
        fresh = await world.get(url, **{header: value})
        assert cache_status(fresh) == "v100-gateway; fwd=bypass"
    assert world.origin.count(url) == 3
    assert hit(await world.get(url))


async def test_other_methods_pass_through_untouched(world: World) -> None:
    answer = await world.http.post(f"{unique()}?{PUBLIC}", headers=world.who["a"].headers)
    assert answer.status_code == 405  # the origin serves GET only
    assert "cache-status" not in answer.headers


async def test_cache_outcomes_are_in_the_metrics(world: World) -> None:
    samples = (
        f'v100_gateway_cache_requests_total{{result="hit",route="{ROUTE}"}}',
        f'v100_gateway_cache_requests_total{{result="miss",route="{ROUTE}"}}',
        f'v100_gateway_cache_not_stored_total{{reason="no-store",route="{ROUTE}"}}',
    )
    before = (await world.http.get("/metrics")).text
    url = f"{unique()}?{PUBLIC}"
    await world.get(url)
    await world.get(url)
    await world.get(f"{unique()}?cc=no-store")
    text = (await world.http.get("/metrics")).text
    hits, misses, not_stored = (counted(text, s) - counted(before, s) for s in samples)
    assert (hits, misses, not_stored) == (1, 2, 1)
    assert "v100_gateway_cache_l1_bytes" in text
    ready = (await world.http.get("/ready")).json()
    assert ready["checks"]["response_cache"] == "ok"

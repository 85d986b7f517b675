"""The proxied path (plain proxied requests taken by the server protocol) against the full
middleware path: two real gateways before one real origin, one with the protocol's paths and
one without, must answer the same requests with the same statuses, headers and bodies, errors
included (a service down, its breaker open, a rate limit, a missing credential); and bytes that
continue a request the parser has begun are never taken for a request of their own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from v100.kit.http import PrincipalDep
from v100.services.gateway.edge.proxied_path import ProxiedPath
from v100.services.gateway.edge.proxy.upstreams import Upstreams

from .response_cache_support import (
    BLOCK,
    PREFIX,
    ROUTE,
    CachingGateway,
    Caller,
    Origin,
    callers,
    gateway_serving,
    origin_serving,
    unique,
)
from .test_hit_path import LIMITS, _connect, _limits, _read_answer, _same_answer
from .traffic_support import metric


@dataclass
class Pair:
    fast: CachingGateway
    full: CachingGateway
    fast_who: dict[str, Caller]
    full_who: dict[str, Caller]
    origin: Origin

    @property
    def proxied(self) -> ProxiedPath:
        proxied: ProxiedPath = self.fast.app.state.runtime.get(ProxiedPath)
        return proxied


async def _pair(
    tmp_path: Path, limits: dict[str, object], **overrides: object
) -> AsyncIterator[Pair]:
    # The caller's key stays known through a test however slow the machine (``principal_now``:
    # a request after the key cache's time is the full path's), and no health check marks a
    # service up or down in one gateway and not yet in the other.
    overrides = {"api_key_cache_seconds": 60, "health_check_enabled": False, **overrides}
    async with (
        origin_serving(tmp_path, None) as origin,
        gateway_serving(
            tmp_path,
            origin,
            redis_url=None,
            redis_prefix="fast:",
            rate_limits=limits,
            **overrides,
        ) as fast,
        gateway_serving(
            tmp_path,
            origin,
            redis_url=None,
            redis_prefix="full:",
            rate_limits=limits,
            response_cache_hit_path=False,
            proxy_lean_path=False,
            **overrides,
        ) as full,
    ):
        assert not hasattr(full.app.state, "http_protocol")
        pair = Pair(fast, full, await callers(fast), await callers(full), origin)
        # The caller's key known to each gateway (the first use of a key is the full path's).
        await _both(pair, "POST", unique(), times=1)
        yield pair


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    async for each in _pair(tmp_path, LIMITS):
        yield each


async def _both(
    pair: Pair, method: str, url: str, *, who: str = "a", times: int = 2, **options: object
) -> tuple[httpx.Response, httpx.Response]:
    """The last of ``times`` answers of each gateway to the same request."""
    answers = []
    extra: dict[str, str] = options.pop("headers", {})  # type: ignore[assignment]
    for gateway, callers_ in ((pair.fast, pair.fast_who), (pair.full, pair.full_who)):
        headers = {**(callers_[who].headers if who else {}), **extra}
        async with gateway.client() as http:
            for _ in range(times):
                answer = await http.request(method, url, headers=headers, **options)  # type: ignore[arg-type]
        answers.append(answer)
    return answers[0], answers[1]


async def test_plain_requests_are_taken_and_answered_as_the_full_path_answers(
    pair: Pair,
) -> None:
    taken = pair.proxied.taken
    # A GET the cache holds as not cacheable (after the first), with and without a request id.
    url = unique()
    fast, full = await _both(pair, "GET", url)
    _same_answer(fast, full)
    assert fast.json()["url"] == full.json()["url"]
    assert "; fwd=uri-miss" in fast.headers["cache-status"]
    assert pair.proxied.taken == taken + 1
    fast, full = await _both(pair, "GET", url, headers={"X-Request-Id": "r-7"})
    _same_answer(fast, full)
    assert fast.headers["x-request-id"] == "r-7"
    timing = fast.headers["server-timing"]
    for part in ("gw;dur=", "upstream;dur=", "auth;dur=", "ratelimit;dur="):
        assert part in timing
    # HEAD, a POST with a body (the origin refuses its method), a DELETE.
    head, full_head = await _both(pair, "HEAD", url)
    _same_answer(head, full_head)
    post, full_post = await _both(pair, "POST", unique(), content=b'{"a": 1}')
    assert post.status_code == 405
    _same_answer(post, full_post)
    delete, full_delete = await _both(pair, "DELETE", unique())
    _same_answer(delete, full_delete)
    # A large JSON answer to a caller that accepts gzip: compressed as the full path does.
    big = f"{unique()}?pad={'x' * 1100}"
    gzipped, full_gzipped = await _both(pair, "GET", big, headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip"
    _same_answer(gzipped, full_gzipped)
    plain, full_plain = await _both(pair, "GET", big)
    _same_answer(plain, full_plain)
    assert pair.proxied.taken == taken + 12
    # One budget: what the proxied path takes counts against the same limits.
    async with pair.fast.client() as http:
        first = await http.get(url, headers=pair.fast_who["a"].headers)
        second = await http.get(url, headers=pair.fast_who["a"].headers)
    remaining = int(second.headers["ratelimit-remaining"])
    assert remaining == int(first.headers["ratelimit-remaining"]) - 1


async def test_a_service_down_or_its_breaker_open_is_answered_alike(pair: Pair) -> None:
    taken = pair.proxied.taken
    # Every service but billing is on a dead port (response_cache_support.upstreams_to).
    down, full_down = await _both(pair, "POST", "/v1/videos/x", content=b"{}")
    assert down.status_code == 503
    assert down.headers["content-type"] == "application/problem+json"
    _same_answer(down, full_down)
    assert pair.proxied.taken == taken + 2
    for gateway in (pair.fast, pair.full):
        upstreams: Upstreams = gateway.app.state.runtime.get(Upstreams)
        upstreams["billing"].breaker.mark_down("a test", 30)
    url = unique()
    opened, full_opened = await _both(pair, "GET", url)
    assert opened.status_code == 503
    assert "circuit breaker" in opened.json()["detail"]
    _same_answer(opened, full_opened)
    posted, full_posted = await _both(pair, "POST", url, content=b"{}")
    _same_answer(posted, full_posted)
    assert pair.proxied.taken > taken + 2


async def test_refusals_are_the_full_path_s_own(tmp_path: Path) -> None:
    async for pair in _pair(tmp_path, _limits(4)):
        taken = pair.proxied.taken
        url = unique()
        for _ in range(3):
            fast, full = await _both(pair, "POST", url, times=1, content=b"{}")
        assert fast.status_code == 405
        _same_answer(fast, full)
        limited, full_limited = await _both(pair, "POST", url, times=1, content=b"{}")
        assert limited.status_code == 429
        # Whole seconds until each gateway's own bucket has room, from its own first request:
        # the two may round a second apart on a slow machine.
        for name in ("retry-after", "ratelimit-reset"):
            waits = int(limited.headers[name]), int(full_limited.headers[name])
            assert abs(waits[0] - waits[1]) <= 1, (name, waits)
            limited.headers[name] = full_limited.headers[name]
        _same_answer(limited, full_limited)
        assert pair.proxied.taken == taken + 3
        anonymous, full_anonymous = await _both(pair, "POST", url, who="", content=b"{}")
        assert anonymous.status_code == 401
        _same_answer(anonymous, full_anonymous)
        assert pair.proxied.taken == taken + 3


async def test_only_a_read_holding_one_whole_request_is_taken(pair: Pair) -> None:
    """Bytes that continue a request the parser has begun (a request smuggled inside a header
    or a body) are the parser's, however whole they look; so are a body that is not all in
    the read and a body of two lengths."""
    key = pair.fast_who["a"].headers["X-API-Key"]
    url = unique()
    taken = pair.proxied.taken
    reader, writer = await _connect(pair.fast)
    post = (
        f"POST {url} HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\nContent-Length: 2\r\n\r\n{{}}"
    ).encode()
    writer.write(post)
    head, _ = await _read_answer(reader)
    assert head.startswith(b"HTTP/1.1 405")
    assert pair.proxied.taken == taken + 1

    # A begun request whose rest looks like a whole POST: one request, a 404.
    writer.write(f"GET /v1/nothing-here HTTP/1.1\r\nX-API-Key: {key}\r\nX-Note: ".encode())
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.write(post)
    smuggled, _ = await _read_answer(reader)
    assert smuggled.startswith(b"HTTP/1.1 404")
    # A body split across reads, then one declared twice: the parser's.
    writer.write(post[:-1])
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.write(post[-1:])
    split, _ = await _read_answer(reader)
    assert split.startswith(b"HTTP/1.1 405")
    twice = post.replace(b"Content-Length: 2", b"Content-Length: 2\r\nContent-Length: 2")
    writer.write(twice)
    refused = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert refused.startswith(b"HTTP/1.1 400")
    assert pair.proxied.taken == taken + 1
    writer.close()


async def test_a_slow_answer_outlives_the_keep_alive_timeout(tmp_path: Path) -> None:
    """The keep-alive timer, armed once per idle spell, must not close a connection whose
    request is being answered."""
    async for pair in _pair(tmp_path, LIMITS):
        key = pair.fast_who["a"].headers["X-API-Key"]
        taken = pair.proxied.taken
        reader, writer = await _connect(pair.fast)
        keep_alive = pair.fast.settings.platform.http_keep_alive_seconds
        url = f"{unique()}?delay={keep_alive * 0.7}"
        slow = f"GET {url} HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n\r\n".encode()
        writer.write(slow)  # the full path's (the cache learns the URL is not cacheable)
        await _read_answer(reader)
        await asyncio.sleep(keep_alive * 0.5)
        writer.write(slow)  # taken; the timer fires while the origin waits
        head, _ = await _read_answer(reader)
        assert head.startswith(b"HTTP/1.1 200")
        assert pair.proxied.taken == taken + 1
        writer.close()


def _turning_route(pair: Pair) -> dict[str, bool]:
    """A route of the origin's, put before its others, whose answers are not cacheable until
    the test turns them cacheable (``public, max-age=60``): the same URL, first held as not
    cacheable by the gateways' caches, then to be stored."""
    cacheable = {"now": False}

    async def turning(name: str, principal: PrincipalDep) -> JSONResponse:
        pair.origin.hits[f"{PREFIX}/turning/{name}"] += 1
        headers = {"Cache-Control": "public, max-age=60"} if cacheable["now"] else {}
        return JSONResponse({"name": name, "tenant_id": principal.tenant_id}, headers=headers)

    route = APIRoute(f"{PREFIX}/turning/{{name}}", turning, methods=["GET"])
    pair.origin.app.router.routes.insert(0, route)
    return cacheable


async def test_a_url_that_becomes_cacheable_is_stored_as_the_full_path_stores_it(
    pair: Pair,
) -> None:
    cacheable = _turning_route(pair)
    url = f"{PREFIX}/turning/{uuid.uuid4().hex[:8]}"
    taken = pair.proxied.taken
    # Not cacheable: the first request is the full path's, the second taken (its mark renewed).
    fast, full = await _both(pair, "GET", url)
    _same_answer(fast, full)
    assert fast.headers["cache-status"].endswith("; fwd=uri-miss")
    assert pair.proxied.taken == taken + 1
    # Cacheable now: taken while the URL is still marked, stored, answered from the entry.
    cacheable["now"] = True
    stored, full_stored = await _both(pair, "GET", url, times=1)
    assert pair.proxied.taken == taken + 2
    assert stored.headers["cache-status"].endswith("; fwd=uri-miss; stored")
    _same_answer(stored, full_stored)
    assert pair.origin.count(url) == 6
    # ... and from now on a hit on both, the origin left alone.
    hit, full_hit = await _both(pair, "GET", url, times=1)
    assert "; hit" in hit.headers["cache-status"]
    _same_answer(hit, full_hit)
    assert pair.origin.count(url) == 6
    assert pair.proxied.taken == taken + 2


async def test_compressible_and_incompressible_answers_pass_as_on_the_full_path(
    pair: Pair,
) -> None:
    taken = pair.proxied.taken
    gzip = {"Accept-Encoding": "gzip"}
    # Bytes of a type never compressed, streamed by the origin (chunked), asked with gzip.
    octets = f"{unique()}?size=3000"
    raw, full_raw = await _both(pair, "GET", octets, headers=gzip)
    assert "content-encoding" not in raw.headers
    assert raw.headers["transfer-encoding"] == "chunked"
    assert raw.content == full_raw.content == BLOCK[:3000]
    _same_answer(raw, full_raw)
    # A JSON answer below the threshold (untouched) and one above it (compressed with gzip;
    # with Brotli preferred; marked Vary but sent as it is to a caller that accepts neither).
    small, full_small = await _both(pair, "GET", unique(), headers=gzip)
    assert "content-encoding" not in small.headers
    assert "vary" not in small.headers
    _same_answer(small, full_small)
    big = f"{unique()}?pad={'y' * 1500}"
    for accepted, coding in (("gzip", "gzip"), ("br;q=1, gzip;q=0.5", "br"), ("zstd", None)):
        fast, full = await _both(pair, "GET", big, headers={"Accept-Encoding": accepted})
        assert fast.headers.get("content-encoding") == coding
        assert "Accept-Encoding" in fast.headers["vary"]
        assert fast.json() == full.json() or fast.json()["url"] == full.json()["url"]
        _same_answer(fast, full)
    # Two requests each; the first of each URL is the full path's.
    assert pair.proxied.taken == taken + 1 + 1 + 1 + 2 + 2


async def test_what_the_proxied_path_answers_is_counted_as_the_full_path_counts_it(
    pair: Pair,
) -> None:
    """Folded before each scrape: the same requests to both gateways, the same counts."""
    not_cacheable, posted = unique(), unique()
    await _both(pair, "GET", not_cacheable, times=4)
    await _both(pair, "POST", posted, times=3, content=b"{}")
    await _both(pair, "GET", f"{PREFIX}/x?status=503", times=2)  # not stored: its status
    scraped = []
    for gateway in (pair.fast, pair.full):
        async with gateway.client() as http:
            scraped.append((await http.get("/metrics")).text)
    fast, full = scraped
    route = {"route": ROUTE}
    for name, labels in (
        ("v100_gateway_upstream_duration_seconds_count", route),
        ("v100_gateway_cache_not_stored_total", {**route, "reason": "not-shared"}),
        ("v100_gateway_cache_not_stored_total", {**route, "reason": "status"}),
        ("v100_gateway_cache_requests_total", {**route, "result": "miss"}),
        ("v100_gateway_processing_seconds_count", route),
        ("v100_http_requests_total", {**route, "method": "GET", "status": "200"}),
        ("v100_http_requests_total", {**route, "method": "GET", "status": "503"}),
        ("v100_http_requests_total", {**route, "method": "POST", "status": "405"}),
        ("v100_http_request_duration_seconds_count", {**route, "method": "POST"}),
    ):
        counted = metric(fast, name, **labels)
        assert counted is not None, (name, labels)
        assert counted == metric(full, name, **labels), (name, labels)
    # Every request reached the origin once, through both paths (the fixture's POST too).
    assert metric(fast, "v100_gateway_upstream_duration_seconds_count", **route) == 4 + 3 + 2 + 1
    assert metric(fast, "v100_gateway_cache_not_stored_total", reason="not-shared") == 4
    assert pair.proxied.taken >= 3 + 3 + 1

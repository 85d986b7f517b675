"""The hit path (fresh cache hits answered by the server protocol) against the full middleware
path: two real gateways before one real origin, one with the hit path and one without, must
answer the same requests with the same statuses, headers and bodies; and what the hit path must
leave to the full path (refusals, bodies, compression, HTTP/1.0, pipelining) still works, and
its keep-alive timer closes idle connections as uvicorn's does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from v100.kit.http import server_config
from v100.kit.testing import servers
from v100.services.gateway.edge.hit_path import HitPath
from v100.services.gateway.testing import Gateway

from .response_cache_support import (
    CachingGateway,
    Caller,
    Origin,
    callers,
    gateway_serving,
    hit,
    origin_serving,
    unique,
)

PUBLIC = "cc=public,max-age=60"
# Values that differ between any two answers, whichever path gives them.
_VOLATILE = {"date", "x-request-id", "server-timing", "age", "ratelimit-reset"}


def _limits(per_key: int) -> dict[str, object]:
    # The tenant's own quota stays large: signing up and making keys spend it too.
    free = {
        "tenant": {"requests": 1000},
        "api_key": {"requests": per_key},
        "concurrent_requests": 2,
    }
    # A day's window: a bucket refills one request per 86 s at most, so RateLimit-Remaining does
    # not move between two requests of a test (the comparisons below rely on it).
    return {"tier_source": "tenant", "window_seconds": 86_400, "tiers": {"free": free}}


LIMITS = _limits(1000)


@dataclass
class Pair:
    fast: CachingGateway
    full: CachingGateway
    fast_who: dict[str, Caller]
    full_who: dict[str, Caller]
    origin: Origin

    @property
    def hit_path(self) -> HitPath:
        hit_path: HitPath = self.fast.app.state.runtime.get(HitPath)
        return hit_path


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    async with (
        origin_serving(tmp_path, None) as origin,
        gateway_serving(
            tmp_path, origin, redis_url=None, redis_prefix="fast:", rate_limits=LIMITS
        ) as fast,
        gateway_serving(
            tmp_path,
            origin,
            redis_url=None,
            redis_prefix="full:",
            rate_limits=LIMITS,
            response_cache_hit_path=False,
        ) as full,
    ):
        assert not hasattr(full.app.state, "hit_path")
        yield Pair(fast, full, await callers(fast), await callers(full), origin)


def _shape(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [
        (name, "*" if name in _VOLATILE else value)
        for name, value in response.headers.multi_items()
    ]
    return response.status_code, headers, response.content


async def _twice(
    gateway: CachingGateway, who: dict[str, Caller], method: str, url: str, **headers: str
) -> tuple[httpx.Response, httpx.Response]:
    async with gateway.client() as http:
        first = await http.request(method, url, headers={**who["a"].headers, **headers})
        second = await http.request(method, url, headers={**who["a"].headers, **headers})
    return first, second


def _same_answer(fast: httpx.Response, full: httpx.Response) -> None:
    status, headers, body = _shape(fast)
    full_status, full_headers, full_body = _shape(full)
    assert status == full_status
    # The origin's own answer differs in what it reports of the caller (tenant and user ids
    # are the two gateways' own): compare everything else.
    assert [name for name, _ in headers] == [name for name, _ in full_headers]
    for (name, value), (_, full_value) in zip(headers, full_headers, strict=True):
        if name not in ("content-length", "etag"):
            assert value == full_value, name
    assert len(body) == len(full_body) or status == 200


async def test_a_fresh_hit_is_answered_by_the_hit_path_as_the_full_path_answers(
    pair: Pair,
) -> None:
    path = unique()
    url = f"{path}?{PUBLIC}"
    answered = pair.hit_path.answered
    fast_miss, fast_hit = await _twice(pair.fast, pair.fast_who, "GET", url)
    _, full_hit = await _twice(pair.full, pair.full_who, "GET", url)
    assert not hit(fast_miss)
    assert hit(fast_hit)
    assert hit(full_hit)
    assert pair.hit_path.answered == answered + 1
    assert fast_hit.json() == fast_miss.json()
    _same_answer(fast_hit, full_hit)
    timing = fast_hit.headers["server-timing"]
    assert timing.startswith("gw;dur=")
    assert "auth;dur=" in timing
    assert "ratelimit;dur=" in timing
    # One budget: the hit path's answers count against the same limits as the full path's.
    assert (
        int(fast_hit.headers["ratelimit-remaining"])
        == int(fast_miss.headers["ratelimit-remaining"]) - 1
    )


async def test_head_and_if_none_match_hits(pair: Pair) -> None:
    url = f"{unique()}?{PUBLIC}&etag=%22v1%22"
    for gateway, who in ((pair.fast, pair.fast_who), (pair.full, pair.full_who)):
        await _twice(gateway, who, "GET", url)
    answered = pair.hit_path.answered
    _, fast_head = await _twice(pair.fast, pair.fast_who, "HEAD", url)
    _, full_head = await _twice(pair.full, pair.full_who, "HEAD", url)
    assert fast_head.content == b""
    _same_answer(fast_head, full_head)
    _, fast_304 = await _twice(pair.fast, pair.fast_who, "GET", url, **{"If-None-Match": '"v1"'})
    _, full_304 = await _twice(pair.full, pair.full_who, "GET", url, **{"If-None-Match": '"v1"'})
    assert fast_304.status_code == 304
    _same_answer(fast_304, full_304)
    assert pair.hit_path.answered == answered + 4


async def test_the_request_id_is_echoed_or_made(pair: Pair) -> None:
    url = f"{unique()}?{PUBLIC}"
    async with pair.fast.client() as http:
        await http.get(url, headers=pair.fast_who["a"].headers)
        echoed = await http.get(url, headers={**pair.fast_who["a"].headers, "X-Request-Id": "r-1"})
        made = await http.get(url, headers={**pair.fast_who["a"].headers, "X-Request-Id": "bad id"})
    assert hit(echoed)
    assert echoed.headers["x-request-id"] == "r-1"
    assert len(made.headers["x-request-id"]) == 32


async def test_what_the_hit_path_leaves_to_the_full_path(pair: Pair) -> None:
    url = f"{unique()}?{PUBLIC}"
    a = pair.fast_who["a"].headers
    async with pair.fast.client() as http:
        await http.get(url, headers=a)
        answered = pair.hit_path.answered
        # No credential, a wrong one, another tenant's key: the full path answers (401, miss).
        assert (await http.get(url)).status_code == 401
        assert (await http.get(url, headers={"X-API-Key": "v100_sk_nope"})).status_code == 401
        other = await http.get(url, headers=pair.fast_who["b"].headers)
        assert not hit(other)
        # A client asking for a fresh answer, a GET with a body, an unknown prefix.
        assert not hit(await http.get(url, headers={**a, "Cache-Control": "no-cache"}))
        assert (await http.request("GET", url, headers=a, content=b"x")).status_code == 200
        assert (await http.get("/v1/nothing-here", headers=a)).status_code == 404
        # A browser's cross-origin call: CORS (a middleware) must add its headers.
        assert hit(await http.get(url, headers={**a, "Origin": "https://app.example.com"}))
        assert pair.hit_path.answered == answered


async def _connect(gateway: CachingGateway) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw connection to ``gateway``, for requests written byte by byte."""
    address = urlsplit(gateway.url)
    return await asyncio.open_connection(address.hostname, address.port)


async def test_pipelined_and_http_1_0_requests(pair: Pair) -> None:
    url = f"{unique()}?{PUBLIC}"
    key = pair.fast_who["a"].headers["X-API-Key"]
    async with pair.fast.client() as http:
        await http.get(url, headers={"X-API-Key": key})
    reader, writer = await _connect(pair.fast)
    request = f"GET {url} HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n\r\n".encode()
    writer.write(request * 3)
    await writer.drain()
    answers = []
    for _ in range(3):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(
            next(line for line in head.split(b"\r\n") if line.startswith(b"content-length")).split(
                b":"
            )[1]
        )
        answers.append((head, await reader.readexactly(length)))
    assert all(head.startswith(b"HTTP/1.1 200") for head, _ in answers)
    assert all(b"; hit" in head for head, _ in answers)
    assert len({body for _, body in answers}) == 1
    writer.write(f"GET {url} HTTP/1.0\r\nX-API-Key: {key}\r\n\r\n".encode())
    await writer.drain()
    rest = await asyncio.wait_for(reader.read(), 10)  # HTTP/1.0: closed after the answer
    assert rest.startswith(b"HTTP/1.1 200")
    assert b"; hit" in rest
    writer.close()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head, await reader.readexactly(length)


async def test_only_a_read_holding_one_whole_plain_request_takes_the_hit_path(pair: Pair) -> None:
    """The hit path reads requests itself only when a read holds one whole, strictly formed
    request and the parser holds nothing: a request split across reads, one that asks to close
    the connection, or bytes that continue a request the parser has begun (which could smuggle
    a second request inside a header) are the parser's, and answered as the full path does."""
    url = f"{unique()}?{PUBLIC}"
    key = pair.fast_who["a"].headers["X-API-Key"]
    async with pair.fast.client() as http:
        await http.get(url, headers={"X-API-Key": key})
        await http.get(url, headers={"X-API-Key": key})
    answered = pair.hit_path.answered
    reader, writer = await _connect(pair.fast)
    whole = f"GET {url} HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n\r\n".encode()
    writer.write(whole)
    head, body = await _read_answer(reader)
    assert head.startswith(b"HTTP/1.1 200")
    assert b"; hit" in head
    assert pair.hit_path.answered == answered + 1

    # Split across two reads: the parser's, the same hit answered by the full path.
    writer.write(whole[:20])
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.write(whole[20:])
    split_head, split_body = await _read_answer(reader)
    assert split_head.startswith(b"HTTP/1.1 200")
    assert b"; hit" in split_head
    assert split_body == body
    assert pair.hit_path.answered == answered + 1

    # A begun request whose rest looks like a whole cacheable GET: one request, a 404.
    writer.write(f"GET /v1/nothing-here HTTP/1.1\r\nX-API-Key: {key}\r\nX-Note: ".encode())
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.write(whole)
    smuggled_head, _ = await _read_answer(reader)
    assert smuggled_head.startswith(b"HTTP/1.1 404")
    assert pair.hit_path.answered == answered + 1

    # Connection: close is honoured: answered (by the full path), then closed.
    writer.write(whole.replace(b"Host: x", b"Host: x\r\nConnection: close"))
    close_head, _ = await _read_answer(reader)
    assert close_head.startswith(b"HTTP/1.1 200")
    assert b"; hit" in close_head
    assert await asyncio.wait_for(reader.read(), 10) == b""
    assert pair.hit_path.answered == answered + 1
    writer.close()


async def test_the_same_bytes_again_are_checked_again(pair: Pair) -> None:
    """The hit path remembers what a request's bytes decide, never what may change since: the
    same bytes once the entry has expired go to the origin, and once the key is revoked are
    refused."""
    url = f"{unique()}?cc=public,max-age=1"
    async with pair.fast.client() as http:
        helper = Gateway(app=pair.fast.app, http=http, settings=pair.fast.settings)
        owner = pair.fast_who["user_a"].headers
        created = await helper.create_key(owner, ["*"])
        await http.get(url, headers={"X-API-Key": created["key"]})  # stored
        fetched = pair.origin.hits[url]
        answered = pair.hit_path.answered
        reader, writer = await _connect(pair.fast)
        request = f"GET {url} HTTP/1.1\r\nHost: x\r\nX-API-Key: {created['key']}\r\n\r\n"
        for _ in range(2):
            writer.write(request.encode())
            head, _ = await _read_answer(reader)
            assert head.startswith(b"HTTP/1.1 200")
            assert b"; hit" in head
        assert (pair.hit_path.answered, pair.origin.hits[url]) == (answered + 2, fetched)

        await asyncio.sleep(1.2)  # expired: the same bytes are a miss
        writer.write(request.encode())
        head, _ = await _read_answer(reader)
        assert head.startswith(b"HTTP/1.1 200")
        assert b"; hit" not in head
        assert (pair.hit_path.answered, pair.origin.hits[url]) == (answered + 2, fetched + 1)
        writer.write(request.encode())
        head, _ = await _read_answer(reader)
        assert b"; hit" in head
        assert pair.hit_path.answered == answered + 3

        revoked = await http.delete(f"/v1/api-keys/{created['id']}", headers=owner)
        assert revoked.status_code == 204
        writer.write(request.encode())
        head, _ = await _read_answer(reader)
        assert head.startswith(b"HTTP/1.1 401")
        assert pair.hit_path.answered == answered + 3
        writer.close()


async def test_the_remembered_requests_stay_within_their_bound(pair: Pair) -> None:
    """Distinct requests are remembered up to a budget of bytes, then the memory starts over:
    many large distinct requests cannot grow it without bound."""
    url = f"{unique()}?{PUBLIC}"
    key = pair.fast_who["a"].headers["X-API-Key"]
    async with pair.fast.client() as http:
        await http.get(url, headers={"X-API-Key": key})
    reader, writer = await _connect(pair.fast)
    sent = 0
    for n in range(700):  # about 5 MB of distinct requests
        pad = f"X-Pad: {n:07d}{'p' * 7000}"
        request = f"GET {url} HTTP/1.1\r\nHost: gw\r\nX-API-Key: {key}\r\n{pad}\r\n\r\n"
        writer.write(request.encode())
        sent += len(request)
        head, _ = await _read_answer(reader)
        assert head.startswith(b"HTTP/1.1 200")
    writer.close()
    remembered = pair.hit_path._requests
    assert sent > 4 * 1024 * 1024
    assert 0 < sum(map(len, remembered)) == remembered.held_bytes <= 4 * 1024 * 1024


async def test_over_the_limit_the_full_path_refuses(tmp_path: Path) -> None:
    tight = _limits(3)
    async with (
        origin_serving(tmp_path, None) as origin,
        gateway_serving(
            tmp_path, origin, redis_url=None, redis_prefix="t:", rate_limits=tight
        ) as gateway,
    ):
        who = await callers(gateway)
        url = f"{unique()}?{PUBLIC}"
        hit_path: HitPath = gateway.app.state.runtime.get(HitPath)
        async with gateway.client() as http:
            answers = [await http.get(url, headers=who["a"].headers) for _ in range(5)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        assert hit_path.answered == 2
        assert answers[3].headers["content-type"] == "application/problem+json"
        assert "retry-after" in answers[3].headers


async def test_a_connection_closes_once_idle_for_the_keep_alive_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hit path's keep-alive timer, armed once per idle spell: requests spaced closer than
    the timeout keep the connection open well past it; once idle, it closes on time."""

    def short_keep_alive(app: Any, **options: Any) -> uvicorn.Config:
        return server_config(app, **options, timeout_keep_alive=1)

    monkeypatch.setattr(servers, "server_config", short_keep_alive)
    async with (
        origin_serving(tmp_path, None) as origin,
        gateway_serving(
            tmp_path, origin, redis_url=None, redis_prefix="k:", rate_limits=LIMITS
        ) as gateway,
    ):
        who = await callers(gateway)
        url = f"{unique()}?{PUBLIC}"
        key = who["a"].headers["X-API-Key"]
        async with gateway.client() as http:
            await http.get(url, headers=who["a"].headers)
        hit_path: HitPath = gateway.app.state.runtime.get(HitPath)
        answered = hit_path.answered
        reader, writer = await _connect(gateway)
        request = f"GET {url} HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n\r\n".encode()
        loop = asyncio.get_running_loop()
        for _ in range(6):  # 2.4 s, each request 0.4 s after the previous answer
            writer.write(request)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            answered_at = loop.time()
            await asyncio.sleep(0.4)
        assert hit_path.answered == answered + 6
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
        assert 0.9 < loop.time() - answered_at < 2.0
        writer.close()

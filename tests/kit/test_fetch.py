"""kit.fetch against real servers on loopback (allowed only through the policy's allow-list) and
the refusals that must happen before any connection: loopback, private, link-local and
metadata addresses, IPv6 and IPv4-mapped forms, odd spellings of 127.0.0.1, other schemes,
and redirects that lead to any of them. No refused address is ever connected to."""

from __future__ import annotations

import asyncio
import ipaddress
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from v100.kit.fetch import (
    FetchPolicy,
    UrlFetchFailed,
    UrlNotAllowed,
    UrlTooLarge,
    check_address,
    fetch_to_store,
    fetch_url,
)
from v100.kit.storage import LocalDiskStore
from v100.kit.testing.servers import serving

LOOPBACK = FetchPolicy(allow_cidrs=("127.0.0.0/8",))
PAYLOAD = os.urandom(300_000)
seen_hosts: list[str] = []


async def data(request: Request) -> Response:
    seen_hosts.append(request.headers.get("host", ""))
    return Response(PAYLOAD, media_type="video/mp4")


async def redirect(request: Request) -> Response:
    return RedirectResponse(
        request.query_params["to"], status_code=int(request.query_params.get("status", "302"))
    )


async def loop(request: Request) -> Response:
    return RedirectResponse(f"/loop?n={int(request.query_params.get('n', '0')) + 1}")


async def endless(_: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 65536
            await asyncio.sleep(0)

    return StreamingResponse(chunks())


async def slow(_: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"x"
        await asyncio.sleep(5)
        yield b"y"

    return StreamingResponse(chunks())


async def missing(_: Request) -> Response:
    return Response("no", status_code=404)


APP = Starlette(
    routes=[
        Route("/data", data),
        Route("/redirect", redirect),
        Route("/loop", loop),
        Route("/endless", endless),
        Route("/slow", slow),
        Route("/missing", missing),
    ]
)


@pytest.fixture
async def origin() -> AsyncIterator[str]:
    async with serving(APP, lifespan="off") as url:
        yield url


async def test_a_public_looking_fetch_streams_the_body(origin: str) -> None:
    async with fetch_url(f"{origin}/data", LOOPBACK) as response:
        assert response.status_code == 200
        assert response.content_type == "video/mp4"
        assert response.content_length == len(PAYLOAD)
        assert await response.read() == PAYLOAD


async def test_the_connection_goes_to_the_checked_address_with_the_host_name(origin: str) -> None:
    port = origin.rsplit(":", 1)[1]
    seen_hosts.clear()
    async with fetch_url(f"http://localhost:{port}/data", LOOPBACK) as response:
        assert await response.read() == PAYLOAD
    assert seen_hosts == [f"localhost:{port}"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.1.2.3:8080/x",
        "http://localhost/",
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://0x7f000001/",
        "http://0.0.0.0/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://224.0.0.1/",
        "http://[::1]/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[ff02::1]/",
        "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
        "http://[2002:a00:1::]/",  # 6to4 of 10.0.0.1
    ],
)
async def test_non_public_addresses_are_refused_before_connecting(url: str) -> None:
    with pytest.raises(UrlNotAllowed):
        async with fetch_url(url):
            pass


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/_x",
        "ftp://example.test/a",
        "dict://127.0.0.1:11211/stat",
        "http://user:secret@127.0.0.1/",
        "not a url",
        "http:///nohost",
    ],
)
async def test_other_schemes_and_credentials_are_refused(url: str) -> None:
    with pytest.raises(UrlNotAllowed):
        async with fetch_url(url, LOOPBACK):
            pass


async def test_every_redirect_is_checked_again(origin: str) -> None:
    only_first = FetchPolicy(allow_cidrs=("127.0.0.1/32",))
    port = origin.rsplit(":", 1)[1]
    for target, status in (
        ("http://10.1.2.3/data", 302),
        ("http://169.254.169.254/latest/meta-data/", 307),
        (f"http://127.0.0.2:{port}/data", 301),
        (f"http://[::1]:{port}/data", 308),
        ("file:///etc/passwd", 302),
    ):
        with pytest.raises(UrlNotAllowed):
            async with fetch_url(f"{origin}/redirect?to={target}&status={status}", only_first):
                pass
    # An allowed redirect is followed, relative or absolute.
    async with fetch_url(f"{origin}/redirect?to=/data", only_first) as response:
        assert await response.read() == PAYLOAD
        assert response.url.endswith("/data")


async def test_redirect_loops_stop_at_the_limit(origin: str) -> None:
    with pytest.raises(UrlFetchFailed, match="redirects more than 3"):
        async with fetch_url(
            f"{origin}/loop", FetchPolicy(allow_cidrs=("127.0.0.0/8",), max_redirects=3)
        ):
            pass


async def test_size_and_time_are_bounded(origin: str) -> None:
    small = FetchPolicy(allow_cidrs=("127.0.0.0/8",), max_bytes=1000)
    with pytest.raises(UrlTooLarge):  # declared Content-Length
        async with fetch_url(f"{origin}/data", small):
            pass
    with pytest.raises(UrlTooLarge):  # streamed with no length
        async with fetch_url(f"{origin}/endless", small) as response:
            await response.read()
    quick = FetchPolicy(allow_cidrs=("127.0.0.0/8",), read_timeout=0.5)
    with pytest.raises(UrlFetchFailed):
        async with fetch_url(f"{origin}/slow", quick) as response:
            await response.read()
    with pytest.raises(UrlFetchFailed) as failed:
        async with fetch_url(f"{origin}/missing", LOOPBACK):
            pass
    assert failed.value.extra["upstream_status"] == 404


async def test_fetch_to_store_keeps_nothing_on_failure(origin: str, tmp_path: Path) -> None:
    store = LocalDiskStore(tmp_path / "objects")
    await store.ensure_bucket()
    stored = await fetch_to_store(f"{origin}/data", store, "imports/a", LOOPBACK)
    assert stored.size == len(PAYLOAD)
    assert await store.get("imports/a") == PAYLOAD
    assert (await store.head("imports/a")).content_type == "video/mp4"
    with pytest.raises(UrlTooLarge):
        await fetch_to_store(
            f"{origin}/endless", store, "imports/b", FetchPolicy(("127.0.0.0/8",), max_bytes=10**6)
        )
    assert not await store.exists("imports/b")


def test_address_rules() -> None:
    for public in ("8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"):
        check_address(public, FetchPolicy())
    allowed = FetchPolicy(allow_cidrs=("10.20.0.0/16", "::1/128"))
    assert check_address("10.20.3.4", allowed) == ipaddress.ip_address("10.20.3.4")
    check_address("::1", allowed)
    check_address("::ffff:10.20.0.9", allowed)
    with pytest.raises(UrlNotAllowed):
        check_address("10.21.0.1", allowed)

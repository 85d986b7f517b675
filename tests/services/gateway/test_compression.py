"""Compression at the gateway: the coding chosen from Accept-Encoding q-values, answers left alone
when small, already compressed media or already encoded, the headers a compressed answer needs
(Vary, Content-Length, weak ETag), streamed answers compressed piece by piece with each event
arriving before the next is even produced, and the gateway's own routes compressed too."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator

import brotli
import httpx
import pytest
import pytest_asyncio

from v100.services.gateway.edge.compression import accepted_codings, choose_coding

from .routing_support import RunningGateway, all_upstreams, gateway_serving
from .traffic_support import DOCUMENT, ScriptedUpstream, scripted_upstream


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        (b"", None),
        (b"gzip", "gzip"),
        (b"br", "br"),
        (b"gzip, deflate, br, zstd", "br"),  # equal q: the smaller coding
        (b"gzip;q=1.0, br;q=0.5", "gzip"),
        (b"br;q=0, gzip", "gzip"),
        (b"BR;Q=0.9, GZIP;q=0.8", "br"),
        (b"*", "br"),
        (b"*;q=0.3, br;q=0", "gzip"),
        (b"*;q=0", None),
        (b"gzip;q=0, br;q=0", None),
        (b"gzip;q=0.5, identity", None),  # identity preferred
        (b"gzip, identity;q=0", "gzip"),
        (b"x-gzip", "gzip"),
        (b"gzip;q=2, br;q=abc", None),  # malformed elements say nothing
        (b"deflate", None),
        (b" gzip ; q=0.7 ,br;q=0.6", "gzip"),
    ],
)
def test_the_coding_follows_accept_encoding(header: bytes | None, expected: str | None) -> None:
    assert choose_coding(accepted_codings(header)) == expected


def test_long_streams_prefer_gzip_on_a_tie_for_its_smaller_state() -> None:
    assert choose_coding(accepted_codings(b"gzip, br"), prefer_gzip=True) == "gzip"
    assert choose_coding(accepted_codings(b"gzip;q=0.5, br"), prefer_gzip=True) == "br"


def decode(coding: str | None, data: bytes) -> bytes:
    if coding == "br":
        return bytes(brotli.decompress(data))
    if coding == "gzip":
        return zlib.decompress(data, 31)
    return data


# The tests that use ``served`` share one gateway and upstream for the module, on the module's
# loop where they live (each test reads only the answers to its own requests).
shared = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[RunningGateway, ScriptedUpstream]]:
    async with scripted_upstream() as (url, upstream):
        settings = {"health_check_enabled": False}
        tmp_path = tmp_path_factory.mktemp("compression")
        async with gateway_serving(tmp_path, all_upstreams(billing=url), **settings) as gateway:
            yield gateway, upstream


async def raw_get(
    gateway: RunningGateway, path: str, accept: str | None
) -> tuple[httpx.Response, bytes]:
    """The answer and its body as it crossed the wire (httpx would otherwise decode it)."""
    async with gateway.client() as http:
        del http.headers["accept-encoding"]  # httpx's default
        http.headers.update(gateway.headers)
        if accept is not None:
            http.headers["Accept-Encoding"] = accept
        async with http.stream("GET", path) as response:
            return response, b"".join([chunk async for chunk in response.aiter_raw()])


@pytest.mark.parametrize(
    ("accept", "coding"),
    [("gzip, br", "br"), ("gzip;q=1, br;q=0.8", "gzip"), ("identity", None), (None, None)],
)
@shared
async def test_a_proxied_json_answer_is_compressed_by_the_callers_choice(
    served: tuple[RunningGateway, ScriptedUpstream], accept: str | None, coding: str | None
) -> None:
    gateway, upstream = served
    response, raw = await raw_get(gateway, "/v1/credits/json", accept)
    assert response.status_code == 200
    assert response.headers.get("content-encoding") == coding
    assert decode(coding, raw) == DOCUMENT
    assert int(response.headers["content-length"]) == len(raw)
    assert "Accept-Encoding" in response.headers["vary"]
    if coding is None:
        assert response.headers["etag"] == '"v1"'
    else:
        assert len(raw) < len(DOCUMENT) / 3
        assert response.headers["etag"] == 'W/"v1"'  # other bytes: a weak validator now
    # The gateway compresses; the service is asked for identity whatever the caller accepts.
    assert upstream.seen[-1].headers["accept-encoding"] == "identity"


@pytest.mark.parametrize("path", ["/v1/credits/small", "/v1/credits/png", "/v1/credits/encoded"])
@shared
async def test_small_incompressible_or_encoded_answers_pass_as_they_are(
    served: tuple[RunningGateway, ScriptedUpstream], path: str
) -> None:
    gateway, _ = served
    response, raw = await raw_get(gateway, path, "gzip, br")
    expected_encoding = "gzip" if path.endswith("encoded") else None
    assert response.headers.get("content-encoding") == expected_encoding
    assert int(response.headers["content-length"]) == len(raw)
    if path.endswith("png"):
        assert raw == bytes(range(256)) * 40
        assert "vary" not in response.headers


@shared
async def test_the_gateways_own_answers_are_compressed_too(
    served: tuple[RunningGateway, ScriptedUpstream],
) -> None:
    gateway, _ = served
    response, raw = await raw_get(gateway, "/openapi.json", "br")
    assert response.headers["content-encoding"] == "br"
    assert decode("br", raw).startswith(b"{")


@pytest.mark.parametrize("coding", ["gzip", "br"])
@shared
async def test_server_sent_events_arrive_one_by_one_compressed(
    served: tuple[RunningGateway, ScriptedUpstream], coding: str
) -> None:
    gateway, upstream = served
    # A path per coding: each stream is the first on its path of the module's gateway. (A second
    # event stream on the same path got no headers in 5 s though the service had sent its own:
    # an open question, docs/testing.md "How long the suite takes".)
    decoder = zlib.decompressobj(31) if coding == "gzip" else brotli.Decompressor()
    async with (
        gateway.client(timeout=5) as http,
        http.stream(
            "GET",
            f"/v1/credits/{coding}/sse",
            headers={**gateway.headers, "Accept-Encoding": coding},
        ) as response,
    ):
        assert response.headers["content-encoding"] == coding
        assert response.headers["content-type"] == "text/event-stream"
        assert "content-length" not in response.headers
        chunks = response.aiter_raw()
        # Each event is released only once the previous one was decoded here: if anything on
        # the way held bytes back, this would wait for ever (and time out).
        for n in range(5):
            upstream.release(f"event {n}")
            decoded = b""
            while not decoded.endswith(b"\n\n"):
                raw = await asyncio.wait_for(anext(chunks), timeout=2)
                decoded += decoder.decompress(raw) if coding == "gzip" else decoder.process(raw)
            assert decoded == f"data: event {n}\n\n".encode()
        upstream.release(None)
        rest = b"".join([chunk async for chunk in chunks])
    if coding == "gzip":
        assert decoder.decompress(rest) + decoder.flush() == b""
        assert decoder.eof
    else:
        assert decoder.process(rest) == b""
        assert decoder.is_finished()


@shared
async def test_head_gets_vary_but_no_encoding(
    served: tuple[RunningGateway, ScriptedUpstream],
) -> None:
    gateway, _ = served
    async with gateway.client() as http:
        response = await http.head(
            "/v1/credits/json", headers={**gateway.headers, "Accept-Encoding": "br"}
        )
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert "Accept-Encoding" in response.headers["vary"]

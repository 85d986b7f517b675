"""The proxy's own HTTP/1.1 client against real servers on loopback: keep-alive reuse, chunked
and length-less answers, HEAD, interim answers, a stale kept-alive connection replaced once,
timeouts and refused connections as the error kinds the breaker counts; on asyncio's loop and
on uvloop (the loop ``v100 serve`` runs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import uvloop

from v100.kit.testing.servers import dead_url
from v100.services.gateway.edge.proxy.upstream_client import (
    UpstreamBroken,
    UpstreamConnectError,
    UpstreamPool,
    UpstreamReadTimeout,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def raw_server(handler: Handler) -> tuple[asyncio.Server, str]:
    """A hand-written HTTP server: every byte on the wire is the test's."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


def pool(url: str, **kwargs: float) -> UpstreamPool:
    settings = {"connect_timeout": 1.0, "read_timeout": 1.0, "keepalive_seconds": 4.0, **kwargs}
    return UpstreamPool(url, **settings)


async def body_of(exchange: object) -> bytes:
    parts = []
    while chunk := await exchange.read():  # type: ignore[attr-defined]
        parts.append(chunk)
    return b"".join(parts)


async def keep_alive_and_framings() -> None:
    connections = 0
    heads: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                head = await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            heads.append(head)
            if head.startswith(b"HEAD"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            elif b"/chunked" in head:
                writer.write(
                    b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                )
            elif b"/until-close" in head:
                writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end")
                await writer.drain()
                writer.close()
                return
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Up: 1\r\n\r\nok")
            await writer.drain()

    server, url = await raw_server(handler)
    upstream = pool(url + "/base")
    async with server:
        for _ in range(3):
            exchange = await upstream.request("GET", b"/a?b=1", b"X-Test: yes\r\n")
            assert (exchange.status, await body_of(exchange)) == (200, b"ok")
            assert exchange.header(b"x-up") == b"1"
            exchange.release()
        assert connections == 1  # kept alive and reused
        assert heads[0].startswith(b"GET /base/a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:")
        assert b"\r\nX-Test: yes\r\n" in heads[0]

        exchange = await upstream.request("GET", b"/chunked", b"")
        assert (exchange.status, await body_of(exchange)) == (200, b"hello world")
        exchange.release()

        exchange = await upstream.request("HEAD", b"/x", b"")
        assert exchange.at_eof()
        assert await exchange.read() == b""
        exchange.release()  # the parser would wait for 100 body bytes: not reused

        exchange = await upstream.request("GET", b"/until-close", b"")
        assert await body_of(exchange) == b"to the end"
        exchange.release()
        exchange = await upstream.request("GET", b"/again", b"")
        assert await body_of(exchange) == b"ok"
        exchange.release()
        assert connections == 3
        upstream.close()


async def stale_connection_is_replaced_once() -> None:
    served = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await read_request(reader)
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        # Reads the next request, then drops the connection without answering, as a server
        # closing an idle keep-alive connection just as a request arrives.
        await reader.read(100)
        writer.transport.abort()

    server, url = await raw_server(handler)
    upstream = pool(url)
    async with server:
        first = await upstream.request("GET", b"/", b"")
        await body_of(first)
        first.release()
        second = await upstream.request("GET", b"/", b"")  # replaced transparently
        assert await body_of(second) == b"ok"
        second.release()
        # Not replayable (it may have reached the service): the caller is told.
        with pytest.raises(UpstreamBroken):
            await upstream.request("POST", b"/", b"Content-Length: 2\r\n", b"{}", replayable=False)
        third = await upstream.request("POST", b"/", b"Content-Length: 2\r\n", b"{}")
        assert await body_of(third) == b"ok"  # a fresh connection
        third.release()
        assert served == 3
        upstream.close()


async def errors_have_their_kinds() -> None:
    with pytest.raises(UpstreamConnectError):
        await pool(dead_url()).request("GET", b"/", b"")

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()

    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(5)

    for handler, error in ((silent, UpstreamReadTimeout), (garbage, UpstreamBroken)):
        server, url = await raw_server(handler)
        async with server:
            with pytest.raises(error):
                await pool(url, read_timeout=0.2).request("GET", b"/", b"")
            server.close()
    server, url = await raw_server(stalls)
    async with server:
        exchange = await pool(url, read_timeout=0.2).request("GET", b"/", b"")
        assert await exchange.read() == b"abc"
        with pytest.raises(UpstreamReadTimeout):
            await exchange.read()
        exchange.close()
        server.close()


async def streamed_body_with_backpressure_and_an_early_answer() -> None:
    received = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        head = await reader.readuntil(b"\r\n\r\n")
        if b"/early" in head:
            writer.write(b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.close()
            return
        while True:  # a chunked body, read slowly
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            received += size
            await asyncio.sleep(0)
            if size == 0:
                break
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndone")
        await writer.drain()
        writer.close()

    async def megabytes(count: int) -> AsyncIterator[bytes]:
        for _ in range(count):
            yield b"x" * (1024 * 1024)

    server, url = await raw_server(handler)
    upstream = pool(url, read_timeout=5)
    async with server:
        exchange = await upstream.request(
            "POST", b"/", b"Transfer-Encoding: chunked\r\n", megabytes(8), chunked=True
        )
        assert (exchange.status, await body_of(exchange)) == (200, b"done")
        exchange.release()
        assert received == 8 * 1024 * 1024
        early = await upstream.request(
            "POST", b"/early", b"Transfer-Encoding: chunked\r\n", megabytes(1000), chunked=True
        )
        assert early.status == 413  # relayed while the body was still being sent
        early.release()
        upstream.close()


SCENARIOS = [
    keep_alive_and_framings,
    stale_connection_is_replaced_once,
    errors_have_their_kinds,
    streamed_body_with_backpressure_and_an_early_answer,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_on_asyncio(scenario: Callable[[], Awaitable[None]]) -> None:
    await asyncio.wait_for(scenario(), timeout=20)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_on_uvloop(scenario: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(scenario(), timeout=20)

    uvloop.run(bounded())

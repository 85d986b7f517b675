"""Connection limits every server of the platform applies (``kit.http.GuardedHttpProtocol``), on
a real server, with bytes written on sockets as a slow or hostile client would (issue 11, row 5:
100,000 header lines or one 8 MiB value were accepted, and no slow-header or silent connection
was ever closed): the request head has a deadline (408) and a size counted as it arrives (431),
an idle keep-alive connection closes, and past the connection cap probes still get through."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
from pydantic_settings import SettingsConfigDict

from v100.kit.http import MAX_HEADER_COUNT, ServiceSpec, create_service_app
from v100.kit.http._protocol import MAX_HEAD_BYTES
from v100.kit.settings import PlatformSettings, ServiceSettings
from v100.kit.testing.servers import serving

Address = tuple[str, int]


class LimitsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_LIMITS_", extra="ignore")
    service: ClassVar[str] = "limits"


@pytest.fixture
def server(tmp_path: Path) -> Callable[..., AbstractAsyncContextManager[Address]]:
    @asynccontextmanager
    async def start(**limits: Any) -> AsyncIterator[Address]:
        platform = PlatformSettings(var_dir=tmp_path, internal_token_secret="s" * 40, **limits)
        app = create_service_app(ServiceSpec(LimitsSettings(platform=platform), title="limits"))
        async with serving(app) as url:
            parts = urlsplit(url)
            assert parts.hostname is not None
            assert parts.port is not None
            yield parts.hostname, parts.port

    return start


async def _until_closed(reader: asyncio.StreamReader, within: float) -> tuple[bytes, float]:
    """What the server sent until it closed the connection, and after how long."""
    started = time.monotonic()
    answer = await asyncio.wait_for(reader.read(), timeout=within)
    return answer, time.monotonic() - started


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


async def test_a_silent_connection_and_a_slow_head_end_in_408(server: Any) -> None:
    async with server(http_head_timeout_seconds=0.5) as address:
        reader, writer = await asyncio.open_connection(*address)
        answer, after = await _until_closed(reader, within=5)
        assert _status(answer) == 408
        assert b"/problems/request-timeout" in answer
        assert 0.4 <= after < 2.5
        writer.close()

        # Slowloris: a header line every 0.1 s, never the blank line.
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"GET /health HTTP/1.1\r\nHost: a\r\n")
        started = time.monotonic()

        async def trickle() -> None:
            for n in range(60):
                writer.write(b"X-Slow-%d: v\r\n" % n)
                await writer.drain()
                await asyncio.sleep(0.1)

        sender = asyncio.create_task(trickle())
        answer, _ = await _until_closed(reader, within=5)
        sender.cancel()
        assert _status(answer) == 408
        assert time.monotonic() - started < 2.5
        writer.close()


async def _answer(reader: asyncio.StreamReader) -> int:
    """One whole answer off a kept-alive connection; its status."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)
    return _status(head)


async def test_a_huge_head_is_refused_as_it_arrives(server: Any) -> None:
    async with server() as address:
        # The start of an 8 MiB value, or of 100,000 header lines: the answer comes while the
        # head is still unfinished, not after the server has buffered all of it.
        for start in (
            b"GET /health HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * (MAX_HEAD_BYTES + 1),
            b"GET /health HTTP/1.1\r\nHost: a\r\n" + b"X-N: v\r\n" * (MAX_HEADER_COUNT + 1),
        ):
            reader, writer = await asyncio.open_connection(*address)
            writer.write(start)
            await writer.drain()
            answer, _ = await _until_closed(reader, within=2)
            assert _status(answer) == 431, answer[:200]
            assert b"/problems/headers-too-large" in answer
            writer.close()
        # A client that goes on sending still reads the answer (the server drains, then closes).
        reader, writer = await asyncio.open_connection(*address)
        head = b"GET /health HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * (4 * 1024 * 1024)
        try:
            for offset in range(0, len(head), 64 * 1024):
                writer.write(head[offset : offset + 64 * 1024])
                await writer.drain()
        except ConnectionError:
            pass
        answer, _ = await _until_closed(reader, within=5)
        assert _status(answer) == 431
        writer.close()
        # Within the limits, still served (the counts start again for each request).
        reader, writer = await asyncio.open_connection(*address)
        fields = b"".join(b"X-N%d: v\r\n" % n for n in range(MAX_HEADER_COUNT - 2))
        for _ in range(3):
            writer.write(b"GET /health HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n")
            await writer.drain()
            assert await _answer(reader) == 200
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed(server: Any) -> None:
    async with server(http_keep_alive_seconds=0.5) as address:
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        await writer.drain()
        answer, after = await _until_closed(reader, within=5)
        assert _status(answer) == 200
        assert after < 2.5
        writer.close()


async def test_past_the_connection_cap_only_probes_are_served(server: Any) -> None:
    async with server(http_max_connections=3, http_health_headroom=1) as address:
        held = [await asyncio.open_connection(*address) for _ in range(3)]
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        await writer.drain()
        assert await _answer(reader) == 200
        writer.write(b"GET /openapi.json HTTP/1.1\r\nHost: a\r\n\r\n")
        await writer.drain()
        rest, _ = await _until_closed(reader, within=5)
        assert b"HTTP/1.1 503" in rest
        assert b"retry-after: 1" in rest.lower()
        writer.close()

        # Past the headroom too: refused at once.
        probe = await asyncio.open_connection(*address)
        extra = await asyncio.open_connection(*address)
        answer, _ = await _until_closed(extra[0], within=5)
        assert _status(answer) == 503
        for _, w in [*held, probe, extra]:
            w.close()
        await asyncio.sleep(0.1)

        # Below the cap again: everything is served.
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"GET /openapi.json HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        await writer.drain()
        answer, _ = await _until_closed(reader, within=5)
        assert _status(answer) == 200
        writer.close()

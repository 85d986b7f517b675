"""RFC 9112's message rules and the header limits, on a real server of the platform (every service
and the gateway are built by ``create_service_app``): bytes written on a socket, as a client
that breaks them would. Before, all of these were answered 200 and forwarded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import pytest
from pydantic_settings import SettingsConfigDict

from v100.kit.http import ServiceSpec, create_service_app
from v100.kit.settings import PlatformSettings, ServiceSettings
from v100.kit.testing.servers import serving


class RulesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_RULES_", extra="ignore")
    service: ClassVar[str] = "rules"


@pytest.fixture
async def address(tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    platform = PlatformSettings(var_dir=tmp_path, internal_token_secret="s" * 40)
    app = create_service_app(ServiceSpec(RulesSettings(platform=platform), title="rules"))
    async with serving(app) as url:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        yield parts.hostname, parts.port


async def _exchange(address: tuple[str, int], request: bytes) -> bytes:
    """The whole answer, read until the server closes the connection."""
    reader, writer = await asyncio.open_connection(*address)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    return answer


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    ("request_head", "status", "slug"),
    [
        (b"GET /health HTTP/1.1\r\n", 400, b"bad-request"),  # no Host
        (b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n", 400, b"bad-request"),
        (b"GET /health HTTP/1.0\r\nTransfer-Encoding: chunked\r\n", 400, b"bad-request"),
        (b"GET /health HTTP/2.0\r\nHost: a\r\n", 505, b"http-version-not-supported"),
        (
            b"GET /health HTTP/1.1\r\nHost: a\r\n" + b"".join(
                b"X-N%d: v\r\n" % n for n in range(101)
            ),
            431,
            b"headers-too-large",
        ),
        (b"GET /health HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * 9000 + b"\r\n", 431,
         b"headers-too-large"),
        (
            b"GET /health HTTP/1.1\r\nHost: a\r\n" + b"".join(
                b"X-N%d: %s\r\n" % (n, b"v" * 1000) for n in range(40)
            ),
            431,
            b"headers-too-large",
        ),
    ],
    ids=["no-host", "two-hosts", "te-on-1.0", "http-2.0", "101-fields", "9k-line", "40k-total"],
)  # fmt: skip
async def test_a_request_breaking_a_rule_is_refused_and_the_connection_closed(
    address: tuple[str, int], request_head: bytes, status: int, slug: bytes
) -> None:
    # Connection: keep-alive is implied; the answer must still end with the connection.
    answer = await _exchange(address, request_head + b"\r\n")
    assert _status(answer) == status, answer[:300]
    assert b"connection: close" in answer.lower()
    assert b"/problems/" + slug in answer


async def test_well_formed_requests_pass(address: tuple[str, int]) -> None:
    for head in (
        b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n",
        b"GET /health HTTP/1.0\r\n",  # HTTP/1.0 needs no Host
        b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
        + b"".join(b"X-N%d: v\r\n" % n for n in range(90)),
    ):
        answer = await _exchange(address, head + b"\r\n")
        assert _status(answer) == 200, answer[:300]

"""WebSocket through the gateway: the handshake reaches the service with the caller's identity,
the service's chosen subprotocol reaches the caller, text and binary frames pass both ways, and
close codes travel in both directions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .routing_support import EchoLog, RunningGateway, all_upstreams, echo_serving, gateway_serving


@pytest.fixture
async def realtime(tmp_path: Path) -> AsyncIterator[tuple[RunningGateway, EchoLog, EchoLog]]:
    """Echo services standing in for realtime (a WebSocket prefix) and billing (an HTTP one)."""
    async with (
        echo_serving("/v1/realtime", tmp_path / "realtime") as (realtime_url, realtime_log),
        echo_serving("/v1/credits", tmp_path / "billing") as (billing_url, billing_log),
    ):
        upstreams = all_upstreams(realtime=realtime_url, billing=billing_url)
        async with gateway_serving(tmp_path, upstreams) as gateway:
            yield gateway, realtime_log, billing_log


def ws_url(gateway: RunningGateway, path: str) -> str:
    return "ws" + gateway.url.removeprefix("http") + path


def open_ws(gateway: RunningGateway, path: str, **kwargs: object) -> connect:
    return connect(
        ws_url(gateway, path),
        additional_headers=gateway.headers,
        proxy=None,
        open_timeout=5,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_text_and_binary_frames_echo_through_the_gateway(
    realtime: tuple[RunningGateway, EchoLog, EchoLog],
) -> None:
    gateway, _, _ = realtime
    async with open_ws(gateway, "/v1/realtime/ws", subprotocols=["nope", "v100.echo"]) as ws:
        assert isinstance(ws, ClientConnection)
        # The service chose among what the caller offered; the caller got that choice.
        assert ws.subprotocol == "v100.echo"
        # The service saw a verified internal token for this caller's tenant.
        assert await ws.recv() == f"hello {gateway.tenant_id}"
        await ws.send("ping ✓")
        assert await ws.recv() == "ping ✓"
        payload = bytes(range(256)) * 1000
        await ws.send(payload)
        assert await ws.recv() == payload
        for n in range(100):
            await ws.send(f"burst {n}")
        assert [await ws.recv() for _ in range(100)] == [f"burst {n}" for n in range(100)]


async def test_close_code_from_the_service_reaches_the_caller(
    realtime: tuple[RunningGateway, EchoLog, EchoLog],
) -> None:
    gateway, _, _ = realtime
    async with open_ws(gateway, "/v1/realtime/ws") as ws:
        await ws.recv()
        await ws.send("close:4001:room closed")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4001
    assert closed.value.rcvd.reason == "room closed"


async def test_close_code_from_the_caller_reaches_the_service(
    realtime: tuple[RunningGateway, EchoLog, EchoLog],
) -> None:
    gateway, log, _ = realtime
    async with open_ws(gateway, "/v1/realtime/ws") as ws:
        await ws.recv()
        await ws.close(4002, "leaving")
    await asyncio.wait_for(log.closed.wait(), timeout=5)
    assert log.closes == [4002]


async def test_websocket_on_an_http_prefix_is_relayed_too(
    realtime: tuple[RunningGateway, EchoLog, EchoLog],
) -> None:
    gateway, _, _ = realtime
    async with open_ws(gateway, "/v1/credits/ws") as ws:
        assert await ws.recv() == f"hello {gateway.tenant_id}"
        await ws.send(b"\x00\x01")
        assert await ws.recv() == b"\x00\x01"


async def test_websocket_to_a_service_that_is_down_is_refused_with_503(tmp_path: Path) -> None:
    async with gateway_serving(tmp_path, all_upstreams()) as gateway:
        with pytest.raises(InvalidStatus) as refused:
            async with open_ws(gateway, "/v1/realtime/ws"):
                pass
    response = refused.value.response
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert b"upstream-unavailable" in response.body


async def test_websocket_the_service_refuses_keeps_its_status(
    realtime: tuple[RunningGateway, EchoLog, EchoLog],
) -> None:
    gateway, _, _ = realtime
    # No such WebSocket route on the service: its refusal (403 from a pre-accept close) shows.
    with pytest.raises(InvalidStatus) as refused:
        async with open_ws(gateway, "/v1/realtime/no-such-socket"):
            pass
    assert refused.value.response.status_code == 403


async def test_websocket_without_credentials_never_reaches_the_service(
    realtime: tuple[RunningGateway, EchoLog, EchoLog],
) -> None:
    gateway, log, _ = realtime
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(gateway, "/v1/realtime/ws"), proxy=None, open_timeout=5):
            pass
    assert refused.value.response.status_code == 403
    assert log.closes == []

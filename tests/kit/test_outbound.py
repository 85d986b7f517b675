"""kit.outbound against a real server on loopback: answers kept as they are (a redirect is not
followed), bounded excerpts and time, names resolved and checked on every new connection, an
address in the URL checked before any connection, and no cookie carried between requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from v100.kit.fetch import FetchPolicy, UrlFetchFailed, UrlNotAllowed
from v100.kit.outbound import OutboundSender
from v100.kit.testing.servers import serving

LOOPBACK = FetchPolicy(allow_cidrs=("127.0.0.0/8", "::1/128"), total_timeout=2.0)
PUBLIC_ONLY = FetchPolicy(total_timeout=2.0)
seen: list[Request] = []
bodies: list[bytes] = []


async def hook(request: Request) -> Response:
    seen.append(request)
    bodies.append(await request.body())
    answer = Response("x" * 5000, status_code=int(request.query_params.get("status", "200")))
    answer.set_cookie("session", "from-the-receiver")
    return answer


async def moved(request: Request) -> Response:
    seen.append(request)
    return RedirectResponse("http://127.0.0.1:1/elsewhere", status_code=308)


async def slow(_: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        while True:
            yield b"x"
            await asyncio.sleep(0.5)

    return StreamingResponse(chunks())


APP = Starlette(
    routes=[
        Route("/hook", hook, methods=["POST"]),
        Route("/moved", moved, methods=["POST"]),
        Route("/slow", slow, methods=["POST"]),
    ]
)


@pytest.fixture
async def origin() -> AsyncIterator[str]:
    seen.clear()
    bodies.clear()
    async with serving(APP, lifespan="off") as url:
        yield url


@pytest.fixture
async def sender() -> AsyncIterator[OutboundSender]:
    sender = OutboundSender(LOOPBACK, per_host=4, total=8)
    try:
        yield sender
    finally:
        await sender.aclose()


async def test_the_answer_comes_back_with_a_bounded_excerpt(
    origin: str, sender: OutboundSender
) -> None:
    answer = await sender.send(
        "POST", f"{origin}/hook?status=503", headers={"webhook-id": "msg_1"}, content=b"{}",
        read_limit=100,
    )  # fmt: skip
    assert answer.status_code == 503
    assert answer.body == b"x" * 100
    assert answer.truncated
    assert seen[0].headers["webhook-id"] == "msg_1"
    assert seen[0].headers["user-agent"] == LOOPBACK.user_agent
    assert bodies == [b"{}"]


async def test_a_redirect_is_answered_not_followed(origin: str, sender: OutboundSender) -> None:
    answer = await sender.send("POST", f"{origin}/moved", content=b"{}")
    assert answer.status_code == 308
    assert answer.headers["location"] == "http://127.0.0.1:1/elsewhere"
    assert len(seen) == 1


async def test_a_name_is_resolved_checked_and_sent_as_the_host(origin: str) -> None:
    port = origin.rsplit(":", 1)[1]
    allowed = OutboundSender(LOOPBACK, per_host=1, total=1)
    refused = OutboundSender(PUBLIC_ONLY, per_host=1, total=1)
    try:
        answer = await allowed.send("POST", f"http://localhost:{port}/hook", content=b"{}")
        assert answer.status_code == 200
        assert seen[-1].headers["host"] == f"localhost:{port}"
        with pytest.raises(UrlNotAllowed, match="not a public address"):
            await refused.send("POST", f"http://localhost:{port}/hook", content=b"{}")
    finally:
        await allowed.aclose()
        await refused.aclose()
    assert len(seen) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/hook",
        "ftp://127.0.0.1/hook",
        "http://user:secret@127.0.0.1:{port}/hook",
    ],
)
async def test_refused_addresses_are_never_connected_to(origin: str, url: str) -> None:
    sender = OutboundSender(PUBLIC_ONLY, per_host=1, total=1)
    try:
        with pytest.raises(UrlNotAllowed):
            await sender.send("POST", url.format(port=origin.rsplit(":", 1)[1]), content=b"{}")
    finally:
        await sender.aclose()
    assert seen == []


async def test_cookies_set_by_a_receiver_are_never_sent(
    origin: str, sender: OutboundSender
) -> None:
    await sender.send("POST", f"{origin}/hook", content=b"{}")
    await sender.send("POST", f"{origin}/hook", content=b"{}")
    assert "cookie" not in seen[1].headers


async def test_a_receiver_answering_byte_by_byte_runs_out_of_time(
    origin: str, sender: OutboundSender
) -> None:
    started = asyncio.get_running_loop().time()
    with pytest.raises(UrlFetchFailed, match="no complete answer"):
        await sender.send("POST", f"{origin}/slow", content=b"{}", read_limit=1_000_000)
    assert asyncio.get_running_loop().time() - started < LOOPBACK.total_timeout + 1


async def test_a_closed_port_is_a_failed_fetch(sender: OutboundSender) -> None:
    with pytest.raises(UrlFetchFailed, match="could not be reached"):
        await sender.send("POST", "http://127.0.0.1:1/hook", content=b"{}")

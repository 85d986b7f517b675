"""The internal client: the caller's identity as an internal token, the request id passed along,
bounded retries with jitter only for calls that are safe to repeat, and a problem when the
other service does not answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from v100.kit.auth import InternalTokens, Principal
from v100.kit.errors import UpstreamUnavailable
from v100.kit.http import ServiceClient
from v100.kit.observability import current_request_id
from v100.kit.testing.servers import dead_url, serving

TOKENS = InternalTokens("c" * 40)
ALICE = Principal(tenant_id="t-1", user_id="u-1", scopes=frozenset({"videos:read"}))


class Flaky:
    """Answers 503 to the first ``failures`` calls of each path, then 200 with what it saw."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: dict[str, int] = {}

    async def endpoint(self, request: Request) -> Response:
        path = request.url.path
        self.calls[path] = self.calls.get(path, 0) + 1
        if self.calls[path] <= self.failures:
            return JSONResponse({"error": "busy"}, status_code=503)
        principal = TOKENS.verify(request.headers["authorization"].removeprefix("Bearer "))
        return JSONResponse(
            {"tenant": principal.tenant_id, "request_id": request.headers.get("x-request-id")}
        )


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[Flaky, str]]:
    upstream = Flaky(failures=2)
    app = Starlette(routes=[Route("/{path:path}", upstream.endpoint, methods=["GET", "POST"])])
    async with serving(app, lifespan="off") as url:
        yield upstream, url


async def test_idempotent_calls_are_retried_with_the_callers_identity(
    flaky: tuple[Flaky, str],
) -> None:
    upstream, url = flaky
    client = ServiceClient(url, TOKENS, max_attempts=3, backoff_base=0.001)
    token = current_request_id.set("req-42")
    try:
        response = await client.get("/v1/things", principal=ALICE)
    finally:
        current_request_id.reset(token)
        await client.aclose()
    assert response.status_code == 200
    assert response.json() == {"tenant": "t-1", "request_id": "req-42"}
    assert upstream.calls["/v1/things"] == 3


async def test_posts_are_retried_only_with_an_idempotency_key(flaky: tuple[Flaky, str]) -> None:
    upstream, url = flaky
    client = ServiceClient(url, TOKENS, max_attempts=3, backoff_base=0.001)
    try:
        plain = await client.post("/v1/charge", principal=ALICE, json={"amount": 5})
        keyed = await client.post(
            "/v1/keyed", principal=ALICE, json={"amount": 5}, headers={"Idempotency-Key": "k1"}
        )
    finally:
        await client.aclose()
    assert plain.status_code == 503
    assert upstream.calls["/v1/charge"] == 1
    assert keyed.status_code == 200
    assert upstream.calls["/v1/keyed"] == 3


async def test_attempts_are_bounded(flaky: tuple[Flaky, str]) -> None:
    upstream, url = flaky
    client = ServiceClient(url, TOKENS, max_attempts=2, backoff_base=0.001)
    try:
        response = await client.get("/v1/once-more", principal=ALICE)
    finally:
        await client.aclose()
    assert response.status_code == 503  # the last answer, as the upstream gave it
    assert upstream.calls["/v1/once-more"] == 2


async def test_a_service_that_does_not_answer_is_an_upstream_problem() -> None:
    client = ServiceClient(dead_url(), TOKENS, max_attempts=2, backoff_base=0.001)
    try:
        with pytest.raises(UpstreamUnavailable) as caught:
            await client.get("/v1/anything", principal=ALICE)
    finally:
        await client.aclose()
    assert caught.value.status == 503
    assert caught.value.headers["Retry-After"] == "1"


async def test_a_streamed_answer_is_read_as_it_arrives_after_the_same_retries() -> None:
    """``stream``: retried like ``get`` until an answer begins, its body then read in pieces
    (a large file is never held whole), the caller's identity on it."""
    calls: list[str] = []

    async def body(request: Request) -> Response:
        calls.append(request.headers["authorization"])
        if len(calls) == 1:
            return JSONResponse({"error": "busy"}, status_code=503)

        async def pieces() -> AsyncIterator[bytes]:
            for _ in range(8):
                yield b"x" * 65536

        return StreamingResponse(pieces(), media_type="application/octet-stream")

    app = Starlette(routes=[Route("/v1/file", body)])
    async with serving(app, lifespan="off") as url:
        client = ServiceClient(url, TOKENS, max_attempts=3, backoff_base=0.001)
        try:
            async with client.stream("GET", "/v1/file", principal=ALICE) as answer:
                assert answer.status_code == 200
                sizes = [len(chunk) async for chunk in answer.aiter_bytes()]
        finally:
            await client.aclose()
    assert sum(sizes) == 8 * 65536
    assert len(calls) == 2
    assert TOKENS.verify(calls[-1].removeprefix("Bearer ")).tenant_id == "t-1"

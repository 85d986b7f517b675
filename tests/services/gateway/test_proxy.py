"""HTTP through the gateway: requests on another service's prefix reach it with the caller's
identity as an internal token, bodies stream both ways without being held whole, hop-by-hop
headers stop at the gateway, and a service that is down or hangs gives a clear problem."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from starlette.middleware import Middleware

from v100.contracts.topology import SERVICES
from v100.kit.auth import InternalTokens, Principal
from v100.kit.errors import UpstreamUnavailable
from v100.kit.http import Access, Runtime, ServiceSpec, create_service_app
from v100.kit.settings import PlatformSettings
from v100.kit.testing.servers import dead_url, serving
from v100.services.gateway.edge.proxy.middleware import ProxyMiddleware
from v100.services.gateway.edge.proxy.upstreams import Upstreams
from v100.services.gateway.settings import GatewaySettings

from .routing_support import (
    BLOCK,
    INTERNAL_SECRET,
    RunningGateway,
    all_upstreams,
    assert_problem,
    echo_serving,
    gateway_serving,
    pattern_sha256,
)


def header_values(seen: dict[str, object], name: str) -> list[str]:
    headers = seen["headers"]
    assert isinstance(headers, list)
    return [value for key, value in headers if key == name]


# The tests that use ``billing`` share one gateway and echo service for the module (each test's
# requests are its own; what reached the service is counted from where the test began). They
# run on the module's loop, where the servers live. A test that needs settings of its own
# starts its own.
shared = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def billing(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[RunningGateway, list[dict[str, object]]]]:
    """The gateway with an echo service standing in for billing (prefixes /v1/credits...)."""
    tmp_path = tmp_path_factory.mktemp("proxy")
    async with (
        echo_serving("/v1/credits", tmp_path / "billing") as (url, log),
        gateway_serving(tmp_path, all_upstreams(billing=url)) as gateway,
    ):
        yield gateway, log.requests


def requests_counted(metrics: str, *labels: str) -> float:
    """The gateway's ``v100_http_requests_total`` for the sample with these labels (0 if none)."""
    for line in metrics.splitlines():
        if line.startswith("v100_http_requests_total{") and all(x in line for x in labels):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_x_forwarded_for_is_kept_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    async with (
        echo_serving("/v1/credits", tmp_path / "billing") as (url, _),
        gateway_serving(
            tmp_path, all_upstreams(billing=url), trusted_proxies=["127.0.0.0/8"]
        ) as gateway,
        gateway.client() as http,
    ):
        seen = (
            await http.get(
                "/v1/credits/echo", headers={**gateway.headers, "X-Forwarded-For": "203.0.113.7"}
            )
        ).json()
    assert header_values(seen, "x-forwarded-for") == ["203.0.113.7, 127.0.0.1"]


def test_routing_table_longest_prefix_on_segment_boundaries() -> None:
    upstreams = Upstreams(
        {"a": "http://a", "b": "http://b", "c": "http://c"},
        {"/v1/events": "a", "/v1/events-stream": "b", "/v1/chat/completions": "c", "/hls/": "b"},
    )

    def name(path: str) -> str | None:
        route = upstreams.route(path)
        return route.upstream.name if route else None

    assert name("/v1/events") == "a"
    assert name("/v1/events/42/attendees") == "a"
    assert name("/v1/events-stream") == "b"
    assert name("/v1/events-stream/sse") == "b"
    assert name("/v1/eventsX") is None
    assert name("/v1/chat/completions") == "c"
    assert name("/v1/chat") is None
    assert name("/hls/stream/index.m3u8") == "b"
    assert name("/v1/auth/login") is None
    assert name("/") is None


def test_every_public_prefix_of_the_topology_is_routed() -> None:
    upstreams = Upstreams.from_settings(
        GatewaySettings(platform=PlatformSettings(internal_token_secret=INTERNAL_SECRET))
    )
    for info in SERVICES:
        for prefix in info.prefixes + info.websocket_prefixes:
            route = upstreams.route(prefix.rstrip("/") + "/anything")
            expected = None if info.name == "gateway" else info.name
            assert (route.upstream.name if route else None) == expected, prefix
            if route is not None:
                assert route.upstream.base_url == info.url


@shared
async def test_request_reaches_the_service_with_the_callers_identity(
    billing: tuple[RunningGateway, list[dict[str, object]]],
) -> None:
    gateway, _ = billing
    async with gateway.client() as http:
        response = await http.patch(
            "/v1/credits/echo?b=%2F&a=1&a=2",
            headers={**gateway.headers, "X-Request-Id": "trace-me-123"},
            content=b"patched",
        )
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["method"] == "PATCH"
    assert seen["path"] == "/v1/credits/echo"
    assert seen["query"] == "b=%2F&a=1&a=2"
    assert seen["body"] == "patched"
    # The service verified a token the gateway minted for this caller.
    assert seen["tenant_id"] == gateway.tenant_id
    assert seen["user_id"] == gateway.user_id
    [authorization] = header_values(seen, "authorization")
    principal = InternalTokens(INTERNAL_SECRET).verify(authorization.removeprefix("Bearer "))
    assert principal.tenant_id == gateway.tenant_id
    # The API key stops at the gateway.
    assert header_values(seen, "x-api-key") == []
    assert gateway.api_key not in str(seen)
    # One request id end to end, echoed once to the caller.
    assert header_values(seen, "x-request-id") == ["trace-me-123"]
    assert response.headers.get_list("x-request-id") == ["trace-me-123"]


@shared
async def test_proxied_requests_are_measured_by_route_group(
    billing: tuple[RunningGateway, list[dict[str, object]]],
) -> None:
    gateway, _ = billing
    sample = ('method="GET"', 'route="/v1/credits/*"', 'service="gateway"', 'status="200"')
    async with gateway.client() as http:
        before = requests_counted((await http.get("/metrics")).text, *sample)
        await http.get("/v1/credits/echo", headers=gateway.headers)
        metrics = (await http.get("/metrics")).text
    assert requests_counted(metrics, *sample) == before + 1


@shared
async def test_api_key_sent_as_bearer_is_replaced_not_forwarded(
    billing: tuple[RunningGateway, list[dict[str, object]]],
) -> None:
    gateway, _ = billing
    async with gateway.client() as http:
        response = await http.get(
            "/v1/credits/echo", headers={"Authorization": f"Bearer {gateway.api_key}"}
        )
    seen = response.json()
    [authorization] = header_values(seen, "authorization")
    assert gateway.api_key not in authorization
    assert InternalTokens(INTERNAL_SECRET).verify(authorization[7:]).tenant_id == gateway.tenant_id


@shared
async def test_a_forged_internal_token_never_reaches_the_service(
    billing: tuple[RunningGateway, list[dict[str, object]]],
) -> None:
    gateway, seen = billing
    already = len(seen)
    # Even signed with the real internal secret, it is not a credential of the front door.
    forged = InternalTokens(INTERNAL_SECRET).mint(Principal(tenant_id="someone-else"))
    async with gateway.client() as http:
        response = await http.get("/v1/credits/echo", headers={"Authorization": f"Bearer {forged}"})
        assert_problem(response, 401, "unauthorized")
        assert seen[already:] == []
        # With a real key beside it the caller is refused too (one credential per request).
        response = await http.get(
            "/v1/credits/echo",
            headers={"Authorization": f"Bearer {forged}", **gateway.headers},
        )
        assert response.status_code == 401
    assert seen[already:] == []


@shared
async def test_hop_by_hop_headers_stop_at_the_gateway_both_ways(
    billing: tuple[RunningGateway, list[dict[str, object]]],
) -> None:
    gateway, _ = billing
    async with gateway.client() as http:
        response = await http.get(
            "/v1/credits/echo",
            headers={
                **gateway.headers,
                "Connection": "keep-alive, X-Client-Hop",
                "X-Client-Hop": "secret",
                "Keep-Alive": "timeout=30",
                "Proxy-Authorization": "Basic c2VjcmV0",
                "Proxy-Connection": "keep-alive",
                "TE": "trailers",
                "X-End-To-End": "kept",
                "X-Forwarded-For": "203.0.113.7",
                "X-Forwarded-Prefix": "/evil",
                "Via": "1.0 corporate-proxy",
            },
        )
        seen = response.json()
        names = {name for name, _ in seen["headers"]}
        for hop in ("x-client-hop", "keep-alive", "proxy-authorization", "proxy-connection", "te"):
            assert hop not in names, hop
        assert header_values(seen, "x-end-to-end") == ["kept"]
        # The caller is not one of the operator's proxies: its X-Forwarded-* are not believed.
        assert header_values(seen, "x-forwarded-for") == ["127.0.0.1"]
        assert header_values(seen, "x-forwarded-prefix") == []
        assert header_values(seen, "x-forwarded-proto") == ["http"]
        assert header_values(seen, "x-forwarded-host") == [gateway.url.removeprefix("http://")]
        assert header_values(seen, "via") == ["1.0 corporate-proxy, 1.1 v100-gateway"]

        answer = await http.get("/v1/credits/hop", headers=gateway.headers)
    assert answer.status_code == 200
    assert answer.content == b"hop"
    for hop in ("x-upstream-hop", "keep-alive", "proxy-authenticate", "trailer"):
        assert hop not in answer.headers, hop
    assert len(answer.headers.get_list("date")) == 1  # ours, not ours and the service's
    assert "x-upstream-hop" not in answer.headers.get("connection", "").lower()
    assert answer.headers["x-end-to-end"] == "kept"
    assert answer.headers["via"] == "1.1 upstream-proxy, 1.1 v100-gateway"


@shared
async def test_fifty_megabytes_stream_both_ways_in_bounded_memory(
    billing: tuple[RunningGateway, list[dict[str, object]]],
) -> None:
    gateway, _ = billing
    size = 50 * 1024 * 1024 + 123

    async def body() -> AsyncIterator[bytes]:
        for offset in range(0, size, len(BLOCK)):
            yield BLOCK[: min(len(BLOCK), size - offset)]

    async with gateway.client(timeout=60) as http:
        tracemalloc.start()
        try:
            # Client, gateway and service share this process: if any of them held a body whole,
            # the peak would pass 50 MB.
            headers = {**gateway.headers, "Content-Length": str(size)}
            up = await http.post("/v1/credits/upload", content=body(), headers=headers)
            assert up.status_code == 200, up.text
            assert up.json() == {"bytes": size, "sha256": pattern_sha256(size)}

            digest = hashlib.sha256()
            received = 0
            async with http.stream(
                "GET", f"/v1/credits/download?size={size}", headers=gateway.headers
            ) as down:
                assert down.status_code == 200
                async for chunk in down.aiter_raw():
                    digest.update(chunk)
                    received += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert received == size
    assert digest.hexdigest() == pattern_sha256(size)
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


async def test_a_caller_that_leaves_mid_download_stops_the_upstream_stream(
    tmp_path: Path,
) -> None:
    async with (
        echo_serving("/v1/credits", tmp_path / "billing") as (url, log),
        gateway_serving(tmp_path, all_upstreams(billing=url)) as gateway,
        gateway.client() as http,
    ):
        async with http.stream("GET", "/v1/credits/forever", headers=gateway.headers) as down:
            received = 0
            async for chunk in down.aiter_raw():
                received += len(chunk)
                if received > 4 * len(BLOCK):
                    break
        # The gateway noticed the caller leave and let go of the upstream answer.
        await asyncio.wait_for(log.stream_stopped.wait(), timeout=5)


@shared
async def test_chunked_upload_without_length_is_streamed(
    billing: tuple[RunningGateway, list[dict[str, object]]],
) -> None:
    gateway, _ = billing

    async def body() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield BLOCK

    async with gateway.client() as http:
        up = await http.post("/v1/credits/upload", content=body(), headers=gateway.headers)
    assert up.json()["bytes"] == 20 * len(BLOCK)


@shared
async def test_proxied_bodies_are_not_held_to_the_gateways_json_limit(
    billing: tuple[RunningGateway, list[dict[str, object]]],
) -> None:
    gateway, _ = billing
    body = b"x" * (11 * 1024 * 1024)  # above the platform's 10 MiB default
    async with gateway.client(timeout=30) as http:
        up = await http.post("/v1/credits/upload", content=body, headers=gateway.headers)
        assert up.status_code == 200
        # The gateway's own routes keep the default.
        own = await http.post("/v1/api-keys", content=body, headers=gateway.headers)
        assert_problem(own, 413, "payload-too-large")


async def test_upstream_down_answers_503_problem(tmp_path: Path) -> None:
    async with gateway_serving(tmp_path, all_upstreams()) as gateway, gateway.client() as http:
        response = await http.post("/v1/credits/echo", json={"a": 1}, headers=gateway.headers)
    body = assert_problem(response, 503, UpstreamUnavailable.slug)
    assert response.headers["retry-after"] == "1"
    assert "billing" in body["detail"]
    assert response.headers["x-request-id"] == body["request_id"]


async def test_upstream_that_hangs_answers_504_within_the_timeout(tmp_path: Path) -> None:
    async with echo_serving("/v1/credits", tmp_path / "billing") as (url, _):
        upstreams = all_upstreams(billing=url)
        async with (
            gateway_serving(tmp_path, upstreams, upstream_read_timeout_seconds=0.5) as gateway,
            gateway.client() as http,
        ):
            started = time.perf_counter()
            response = await http.get("/v1/credits/hang", headers=gateway.headers)
            elapsed = time.perf_counter() - started
            # The connection pool is still usable afterwards.
            again = await http.get("/v1/credits/echo", headers=gateway.headers)
    assert_problem(response, 504, "upstream-timeout")
    assert 0.5 <= elapsed < 3
    assert again.status_code == 200


@shared
async def test_gateway_routes_stay_with_the_gateway(
    billing: tuple[RunningGateway, list[dict[str, object]]],
) -> None:
    gateway, seen = billing
    already = len(seen)
    async with gateway.client() as http:
        keys = await http.get("/v1/api-keys", headers=gateway.headers)
        missing = await http.get("/v1/nothing-here", headers=gateway.headers)
        # Not a segment boundary of /v1/credits: the gateway's own 404, not billing's.
        near = await http.get("/v1/creditsX", headers=gateway.headers)
    assert keys.status_code == 200
    assert_problem(missing, 404, "not-found")
    assert_problem(near, 404, "not-found")
    assert seen[already:] == []


async def test_unauthenticated_scope_is_forwarded_without_credentials(tmp_path: Path) -> None:
    # The proxy alone, with no authentication in front: the caller's Authorization must still
    # never reach the service, which then refuses the call itself.
    async with echo_serving("/v1/credits", tmp_path / "billing") as (url, log):
        settings = GatewaySettings(
            platform=PlatformSettings(var_dir=tmp_path, internal_token_secret=INTERNAL_SECRET),
            upstreams=all_upstreams(billing=url),
        )
        upstreams = Upstreams.from_settings(settings)

        @contextlib.asynccontextmanager
        async def pools(_runtime: Runtime) -> AsyncIterator[None]:
            try:
                yield
            finally:
                await upstreams.close()

        app: FastAPI = create_service_app(
            ServiceSpec(
                settings,
                title="bare proxy",
                access=Access(internal_token=False),
                middleware=[Middleware(ProxyMiddleware, upstreams=upstreams)],
                components=[pools],
            )
        )
        forged = InternalTokens(INTERNAL_SECRET).mint(Principal(tenant_id="t-forged"))
        async with (
            serving(app) as gateway_url,
            httpx.AsyncClient(base_url=gateway_url, trust_env=False) as http,
        ):
            response = await http.get(
                "/v1/credits/echo", headers={"Authorization": f"Bearer {forged}"}
            )
    assert_problem(response, 401, "unauthorized")
    assert log.requests == []


@shared
async def test_many_concurrent_requests_share_the_pool(
    billing: tuple[RunningGateway, list[dict[str, object]]],
) -> None:
    gateway, _ = billing
    async with gateway.client() as http:
        answers = await asyncio.gather(
            *(
                http.post("/v1/credits/echo", content=f"n={n}", headers=gateway.headers)
                for n in range(50)
            )
        )
    assert sorted(a.json()["body"] for a in answers) == sorted(f"n={n}" for n in range(50))


def test_unknown_upstream_name_in_settings_is_refused() -> None:
    settings = GatewaySettings(
        platform=PlatformSettings(internal_token_secret=INTERNAL_SECRET),
        upstreams={"bililng": dead_url()},
    )
    with pytest.raises(ValueError, match="bililng"):
        Upstreams.from_settings(settings)

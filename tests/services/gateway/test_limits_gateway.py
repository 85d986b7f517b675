"""Rate limits through the real gateway (authentication, limits, proxy to a real echo service), on
in-process limits and on Redis: exact counts then 429 with an honest Retry-After, RateLimit-*
headers on every authenticated answer, per-key and per-tenant limits apart, tiers, bursts, route
groups, the concurrency cap freed on completion and on disconnect, WebSockets and metrics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from v100.kit.db import unit_of_work
from v100.kit.testing.bus import BACKENDS, redis_url_or_skip
from v100.services.gateway.edge.limits import (
    ConcurrencyRule,
    Quota,
    RateLimits,
    RateLimitSettings,
    RouteGroup,
    TierLimits,
)
from v100.services.gateway.identity.models import Tenant

from .routing_support import (
    PASSWORD,
    EchoLog,
    RunningGateway,
    all_upstreams,
    assert_problem,
    echo_serving,
    gateway_serving,
)

LIMIT_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy")


def limits(
    *, key: Quota | None = None, tenant: Quota | None = None, **overrides: Any
) -> RateLimitSettings:
    """Small limits; the echo service's prefix is a route group of its own, so the gateway's own
    calls made while setting a test up (creating keys) do not count against it."""
    values: dict[str, Any] = {
        "tiers": {
            "free": TierLimits(
                tenant=tenant or Quota(requests=50),
                api_key=key or Quota(requests=5),
                concurrent_requests=2,
            ),
            "pro": TierLimits(
                tenant=Quota(requests=100), api_key=Quota(requests=10), concurrent_requests=4
            ),
        },
        "route_groups": {
            "credits": RouteGroup(prefixes=("/v1/credits",)),
            "heavy": RouteGroup(prefixes=("/v1/credits/upload",), scale=0.4),
        },
        "concurrency": {
            "streams": ConcurrencyRule(
                prefixes=("/v1/credits/forever", "/v1/credits/download"), methods=("GET",)
            )
        },
        "redis_probe_seconds": 0.1,
        "redis_probe_max_seconds": 0.4,
    }
    values.update(overrides)
    return RateLimitSettings(**values)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """In-process limits, or Redis through the platform's URL (read from the environment by the
    settings the gateway is built with)."""
    if request.param == "redis":
        monkeypatch.setenv("V100_REDIS_URL", redis_url_or_skip())
    else:
        monkeypatch.delenv("V100_REDIS_URL", raising=False)
    return str(request.param)


@asynccontextmanager
async def limited(
    tmp_path: Path, rate_limits: RateLimitSettings
) -> AsyncIterator[tuple[RunningGateway, EchoLog]]:
    """The real gateway with an echo service standing in for billing (``/v1/credits``)."""
    async with (
        echo_serving("/v1/credits", tmp_path / "billing") as (url, log),
        gateway_serving(tmp_path, all_upstreams(billing=url), rate_limits=rate_limits) as gateway,
    ):
        yield gateway, log


async def new_tenant(http: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    """Sign a tenant up; its id and its owner's headers."""
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD, "tenant_name": "Limits"}
    signup = await http.post("/v1/auth/signup", json=body)
    assert signup.status_code == 201, signup.text
    account = signup.json()
    return account["tenant"]["id"], {"Authorization": f"Bearer {account['access_token']}"}


async def new_key(http: httpx.AsyncClient, owner: dict[str, str]) -> dict[str, str]:
    created = await http.post("/v1/api-keys", json={"name": "k", "scopes": ["*"]}, headers=owner)
    assert created.status_code == 201, created.text
    return {"X-API-Key": created.json()["key"]}


async def statuses(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], n: int
) -> list[int]:
    return [(await http.get(path, headers=headers)).status_code for _ in range(n)]


async def test_exactly_the_limit_passes_then_429_with_retry_after(
    backend: str, tmp_path: Path
) -> None:
    async with limited(tmp_path, limits()) as (gateway, log), gateway.client() as http:
        answers = [await http.get("/v1/credits/echo", headers=gateway.headers) for _ in range(7)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
    assert len(log.requests) == 5  # refused requests never reach the service
    limiter = gateway.app.state.runtime.get(RateLimits).limiter
    assert (limiter.remote_rates is not None) == (backend == "redis")
    assert not limiter.degraded
    for answer in answers:
        assert all(name in answer.headers for name in LIMIT_HEADERS), answer.headers
        assert answer.headers["ratelimit-limit"] == "5"
        assert 1 <= int(answer.headers["ratelimit-reset"]) <= 60
        assert "ratelimit;dur=" in answer.headers["server-timing"]
    assert [int(a.headers["ratelimit-remaining"]) for a in answers] == [4, 3, 2, 1, 0, 0, 0]
    denied = answers[5]
    body = assert_problem(denied, 429, "rate-limited")
    assert denied.headers["retry-after"] == "12"  # 5 per 60 s: the next one in 12 s
    assert body["limit"] == "api-key"
    assert body["route_group"] == "credits"
    assert body["tier"] == "free"
    policy = denied.headers["ratelimit-policy"]
    assert '5;w=60;name="api-key";group="credits"' in policy
    assert '50;w=60;name="tenant";group="credits"' in policy


async def test_waiting_retry_after_is_enough(backend: str, tmp_path: Path) -> None:
    rate_limits = limits(window_seconds=2, key=Quota(requests=4))  # one every 0.5 s
    async with limited(tmp_path, rate_limits) as (gateway, _), gateway.client() as http:
        assert await statuses(http, "/v1/credits/echo", gateway.headers, 5) == [200] * 4 + [429]
        denied = await http.get("/v1/credits/echo", headers=gateway.headers)
        assert denied.status_code == 429
        await asyncio.sleep(int(denied.headers["retry-after"]))
        assert (await http.get("/v1/credits/echo", headers=gateway.headers)).status_code == 200


async def test_key_and_tenant_limits_are_apart(backend: str, tmp_path: Path) -> None:
    rate_limits = limits(key=Quota(requests=5), tenant=Quota(requests=8))
    async with limited(tmp_path, rate_limits) as (gateway, _), gateway.client() as http:
        _, owner = await new_tenant(http)
        first, second = await new_key(http, owner), await new_key(http, owner)
        assert await statuses(http, "/v1/credits/echo", first, 6) == [200] * 5 + [429]
        # The same tenant's other key has its own 5, but the tenant only 3 left of its 8.
        answers = [await http.get("/v1/credits/echo", headers=second) for _ in range(4)]
        assert [a.status_code for a in answers] == [200] * 3 + [429]
        assert answers[-1].json()["limit"] == "tenant"
        assert answers[0].headers["ratelimit-limit"] == "8"  # the tenant binds: 2 left of 8
        assert answers[0].headers["ratelimit-remaining"] == "2"
        # User sessions are held to the tenant's limit, which is spent.
        assert (await http.get("/v1/credits/echo", headers=owner)).status_code == 429
        # Another tenant is untouched.
        _, other_owner = await new_tenant(http)
        other = await new_key(http, other_owner)
        assert await statuses(http, "/v1/credits/echo", other, 6) == [200] * 5 + [429]


async def test_tiers_have_their_own_limits(backend: str, tmp_path: Path) -> None:
    # The tier recorded on the gateway's tenant row (the source without billing_engine; the
    # subscription's is tested in test_limits_subscription_tiers.py).
    config = limits(tier_source="tenant")
    async with limited(tmp_path, config) as (gateway, _), gateway.client() as http:
        tenant_id, owner = await new_tenant(http)
        pro_key = await new_key(http, owner)
        # Upgraded before the key is first used, so the key resolves with the new tier.
        sessions = gateway.app.state.runtime.sessions
        async with unit_of_work(sessions) as session:
            await session.execute(update(Tenant).where(Tenant.id == tenant_id).values(tier="pro"))
        pro = [await http.get("/v1/credits/echo", headers=pro_key) for _ in range(11)]
        free = await statuses(http, "/v1/credits/echo", gateway.headers, 6)
    assert [a.status_code for a in pro] == [200] * 10 + [429]
    assert pro[0].headers["ratelimit-limit"] == "10"
    assert pro[-1].json()["tier"] == "pro"
    assert free == [200] * 5 + [429]


async def test_a_burst_below_the_quota_then_one_per_interval(backend: str, tmp_path: Path) -> None:
    rate_limits = limits(key=Quota(requests=60, burst=3))  # 1 per second, 3 at once
    async with limited(tmp_path, rate_limits) as (gateway, _), gateway.client() as http:
        answers = [await http.get("/v1/credits/echo", headers=gateway.headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["ratelimit-limit"] == "3"
    assert answers[-1].headers["retry-after"] == "1"
    assert '3;w=3;name="api-key"' in answers[-1].headers["ratelimit-policy"]


async def test_route_groups_have_buckets_of_their_own(backend: str, tmp_path: Path) -> None:
    async with limited(tmp_path, limits()) as (gateway, _), gateway.client() as http:
        heavy = [
            await http.post("/v1/credits/upload", content=b"x", headers=gateway.headers)
            for _ in range(3)
        ]
        # 40% of the key's 5 for the heavy group; the rest of /v1/credits keeps all 5.
        assert [a.status_code for a in heavy] == [200, 200, 429]
        assert heavy[-1].json()["route_group"] == "heavy"
        assert '2;w=60;name="api-key";group="heavy"' in heavy[-1].headers["ratelimit-policy"]
        assert await statuses(http, "/v1/credits/echo", gateway.headers, 6) == [200] * 5 + [429]


async def test_every_authenticated_answer_carries_the_headers(backend: str, tmp_path: Path) -> None:
    async with limited(tmp_path, limits()) as (gateway, _), gateway.client() as http:
        missing = await http.get("/v1/tenants/nowhere", headers=gateway.headers)
        assert missing.status_code == 404
        down = await http.get("/v1/videos/1", headers=gateway.headers)  # nothing listens there
        assert down.status_code == 503
        own = await http.get("/v1/api-keys", headers=gateway.headers)
        assert own.status_code == 200
        for answer in (missing, down, own):
            assert all(name in answer.headers for name in LIMIT_HEADERS), answer.headers
        # Unauthenticated and public answers carry none: there is nobody to count against.
        for answer in (await http.get("/v1/credits/echo"), await http.get("/health")):
            assert not any(name in answer.headers for name in LIMIT_HEADERS)


async def test_concurrency_cap_frees_slots_on_completion_and_disconnect(
    backend: str, tmp_path: Path
) -> None:
    rate_limits = limits(key=Quota(requests=100))
    async with (
        limited(tmp_path, rate_limits) as (gateway, log),
        gateway.client(timeout=10) as http,
    ):
        # Finished downloads give their slot back: more of them than the cap, one by one.
        for _ in range(5):
            done = await http.get("/v1/credits/download?size=100000", headers=gateway.headers)
            assert done.status_code == 200
            assert len(done.content) == 100_000
        # Two endless streams take both of the free tier's slots.
        streams = [
            await http.send(
                http.build_request("GET", "/v1/credits/forever", headers=gateway.headers),
                stream=True,
            )
            for _ in range(2)
        ]
        assert [s.status_code for s in streams] == [200, 200]
        third = await http.get("/v1/credits/forever", headers=gateway.headers)
        body = assert_problem(third, 429, "rate-limited")
        assert body["limit"] == "concurrent-requests"
        assert body["rule"] == "streams"
        assert third.headers["retry-after"] == "1"
        assert "ratelimit-remaining" in third.headers
        # Other routes are not capped.
        assert (await http.get("/v1/credits/echo", headers=gateway.headers)).status_code == 200
        # The caller walks away from one stream: its slot frees once the gateway notices.
        await streams[0].aclose()
        await asyncio.wait_for(log.stream_stopped.wait(), timeout=5)
        for _ in range(100):
            again = await http.send(
                http.build_request("GET", "/v1/credits/forever", headers=gateway.headers),
                stream=True,
            )
            if again.status_code == 200:
                break
            await again.aclose()
            await asyncio.sleep(0.05)
        assert again.status_code == 200
        await again.aclose()
        await streams[1].aclose()


async def test_websocket_handshakes_count_and_are_refused_over_the_limit(
    backend: str, tmp_path: Path
) -> None:
    async with limited(tmp_path, limits()) as (gateway, _):
        url = "ws" + gateway.url.removeprefix("http") + "/v1/credits/ws"
        for left in (4, 3):
            async with connect(url, additional_headers=gateway.headers, proxy=None) as ws:
                assert ws.response is not None
                assert ws.response.headers["ratelimit-remaining"] == str(left)
                assert await ws.recv() == f"hello {gateway.tenant_id}"
        async with gateway.client() as http:
            assert await statuses(http, "/v1/credits/echo", gateway.headers, 4) == [200] * 3 + [429]
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=gateway.headers, proxy=None):
                pass
        assert refused.value.response.status_code == 403


async def test_decisions_are_counted_in_the_gateways_metrics(backend: str, tmp_path: Path) -> None:
    async with limited(tmp_path, limits()) as (gateway, _), gateway.client() as http:
        await statuses(http, "/v1/credits/echo", gateway.headers, 7)
        text = (await http.get("/metrics")).text
    allowed = 'decision="allowed",route_group="credits",tier="free"} 5.0'
    limited_ = 'decision="limited",route_group="credits",tier="free"} 2.0'
    assert f"v100_gateway_rate_limit_decisions_total{{{allowed}" in text
    assert f"v100_gateway_rate_limit_decisions_total{{{limited_}" in text
    assert "v100_gateway_rate_limit_degraded 0.0" in text

"""The tier behind the limits comes from the tenant's billing_engine subscription: through the real
gateway, a real billing_engine (its own migrations and bus) and an echo service standing in for
billing. A subscription changes the limits and the internal token's tier as soon as its
``subscription.changed`` event arrives (in-process bus and Redis); a billing_engine that does not
answer leaves the last known tier (else free), counted in the metrics, and fails no request."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from v100.kit.auth import InternalTokens, Principal
from v100.kit.bus import MemoryBus
from v100.kit.cache import MemoryCache
from v100.kit.http import Runtime
from v100.kit.observability import HttpMetrics
from v100.kit.settings import PlatformSettings
from v100.kit.testing.bus import BACKENDS, redis_url_or_skip
from v100.kit.testing.servers import serving
from v100.services.billing_engine.app import create_app as create_billing_engine
from v100.services.billing_engine.invoicing import run_invoicing
from v100.services.billing_engine.settings import BillingEngineSettings
from v100.services.gateway.edge.limits import (
    Quota,
    RateLimits,
    RateLimitSettings,
    RouteGroup,
    SubscriptionTiers,
    TierLimits,
)
from v100.services.gateway.identity.admin import create_operator_key
from v100.services.gateway.settings import GatewaySettings

from .routing_support import (
    INTERNAL_SECRET,
    RunningGateway,
    all_upstreams,
    echo_serving,
    gateway_serving,
)

pytestmark = pytest.mark.time_sensitive

ECHO = "/v1/credits/echo"


def limits(**overrides: Any) -> RateLimitSettings:
    """Small per-key limits that tell the tiers apart; the echo is a route group of its own, so
    the calls to billing_engine (default group) do not spend them."""
    values: dict[str, Any] = {
        "tiers": {
            "free": TierLimits(
                tenant=Quota(requests=500), api_key=Quota(requests=5), concurrent_requests=2
            ),
            "pro": TierLimits(
                tenant=Quota(requests=500), api_key=Quota(requests=10), concurrent_requests=4
            ),
        },
        "route_groups": {"credits": RouteGroup(prefixes=("/v1/credits",))},
        "concurrency": {},
    }
    return RateLimitSettings(**(values | overrides))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every app's bus (and the limiter) in-process, or on Redis."""
    if request.param == "redis":
        monkeypatch.setenv("V100_REDIS_URL", redis_url_or_skip())
    else:
        monkeypatch.delenv("V100_REDIS_URL", raising=False)
    return str(request.param)


@contextlib.asynccontextmanager
async def billing_engine_serving(
    var_dir: Path, app: list[FastAPI] | None = None
) -> AsyncIterator[str]:
    """billing_engine on a loopback port; its app is appended to ``app`` when given."""
    platform = PlatformSettings(var_dir=var_dir, internal_token_secret=INTERNAL_SECRET)
    settings = BillingEngineSettings(
        platform=platform, database_url=f"sqlite+aiosqlite:///{var_dir}/billing_engine.db"
    )
    engine = create_billing_engine(settings)
    if app is not None:
        app.append(engine)
    async with serving(engine) as url:
        async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
            for _ in range(600):
                if (await http.get("/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
        yield url


async def operator_headers(gateway: RunningGateway) -> dict[str, str]:
    """The operator's key (ADR 0027), made on the host as ``v100 operator key create`` does."""
    settings = gateway.app.state.runtime.settings
    _, secret = await create_operator_key(settings, name="billing", scopes=["operator:billing"])
    return {"X-API-Key": secret}


async def subscribe(http: httpx.AsyncClient, gateway: RunningGateway, tier: str) -> None:
    """Through the gateway: the operator's plan of ``tier``, the tenant's subscription to it
    (priced: incomplete, no tier yet) and the operator's grant, which starts it."""
    operator = await operator_headers(gateway)
    plan = {"code": f"plan-{tier}", "name": tier, "interval": "monthly", "base_price": 1000,
            "currency": "USD", "tier": tier}  # fmt: skip
    assert (await http.post("/v1/plans", json=plan, headers=operator)).status_code == 201
    body = {"plan": plan["code"]}
    created = await http.post("/v1/subscriptions", json=body, headers=gateway.headers)
    assert created.status_code == 201, created.text
    assert (created.json()["status"], created.json()["tier"]) == ("incomplete", "free")
    grant = {"tenant_id": gateway.tenant_id, "plan": plan["code"]}
    granted = await http.post("/v1/subscriptions/grants", json=grant, headers=operator)
    assert granted.status_code == 200, granted.text
    assert granted.json()["tier"] == tier


async def tier_becomes(
    gateway: RunningGateway, tenant_id: str, tier: str, within: float = 10.0
) -> None:
    """Waits (without spending the limits) until the gateway holds ``tier`` for the tenant:
    the change event arrives asynchronously."""
    source = gateway.app.state.runtime.get(RateLimits).tiers
    deadline = time.monotonic() + within
    while source.cached(tenant_id) != tier:
        assert time.monotonic() < deadline, f"still {source.cached(tenant_id)!r}, not {tier!r}"
        await asyncio.sleep(0.02)


async def limit_becomes(
    http: httpx.AsyncClient, gateway: RunningGateway, limit: str, tier: str
) -> httpx.Response:
    await tier_becomes(gateway, gateway.tenant_id, tier)
    answer = await http.get(ECHO, headers=gateway.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["ratelimit-limit"] == limit, answer.headers
    return answer


def token_tier(echoed: httpx.Response) -> str:
    """The tier in the internal token the gateway sent the service."""
    headers = dict(echoed.json()["headers"])
    token = headers["authorization"].removeprefix("Bearer ")
    return InternalTokens(INTERNAL_SECRET).verify(token).tier


async def metric(gateway: RunningGateway, name: str) -> float:
    async with gateway.client() as http:
        text = (await http.get("/metrics")).text
    found = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_the_subscription_sets_the_tier_and_its_changes_apply_at_once(
    backend: str, tmp_path: Path
) -> None:
    async with (
        billing_engine_serving(tmp_path / "billing_engine") as engine_url,
        echo_serving("/v1/credits", tmp_path / "billing") as (echo_url, _),
        gateway_serving(
            tmp_path,
            all_upstreams(billing=echo_url, billing_engine=engine_url),
            # Long enough that only the change events can explain a change within the test.
            rate_limits=limits(tier_cache_seconds=3600),
        ) as gateway,
        gateway.client() as http,
    ):
        # No subscription: free, from billing_engine's answer (not from a fallback).
        free = await http.get(ECHO, headers=gateway.headers)
        assert free.headers["ratelimit-limit"] == "5"
        assert token_tier(free) == "free"
        assert await metric(gateway, 'v100_gateway_tier_lookups_total{outcome="fetched"}') == 1

        await subscribe(http, gateway, "pro")
        pro = await limit_becomes(http, gateway, "10", "pro")
        assert '10;w=60;name="api-key";group="credits"' in pro.headers["ratelimit-policy"]
        # The same tier in the token every service verifies.
        assert token_tier(pro) == "pro"
        assert await metric(gateway, "v100_gateway_tier_change_events_total") >= 1

        # A downgrade is announced too.
        plan = {"code": "basic", "name": "Basic", "interval": "monthly", "base_price": 100,
                "currency": "USD", "tier": "free"}  # fmt: skip
        operator = await operator_headers(gateway)
        assert (await http.post("/v1/plans", json=plan, headers=operator)).is_success
        change = await http.post(
            "/v1/subscriptions/current/change", json={"plan": "basic"}, headers=gateway.headers
        )
        assert change.status_code == 200, change.text
        assert token_tier(await limit_becomes(http, gateway, "5", "free")) == "free"
        # Read from billing_engine four times for this tenant: once, then per change (created,
        # activated by the grant, plan_changed); and once for the operator's own credential.
        assert await metric(gateway, 'v100_gateway_tier_lookups_total{outcome="fetched"}') == 5
        assert await metric(gateway, "v100_gateway_tier_source_unreachable") == 0


async def test_without_billing_engine_the_last_known_tier_or_free_and_no_failure(
    backend: str, tmp_path: Path
) -> None:
    async with contextlib.AsyncExitStack() as engine:
        engine_url = await engine.enter_async_context(
            billing_engine_serving(tmp_path / "billing_engine")
        )
        async with (
            echo_serving("/v1/credits", tmp_path / "billing") as (echo_url, _),
            gateway_serving(
                tmp_path,
                all_upstreams(billing=echo_url, billing_engine=engine_url),
                rate_limits=limits(tier_cache_seconds=0.2, tier_retry_seconds=0.2),
            ) as gateway,
            gateway.client() as http,
        ):
            await subscribe(http, gateway, "pro")
            await limit_becomes(http, gateway, "10", "pro")

            await engine.aclose()  # billing_engine goes away
            await asyncio.sleep(0.3)  # the cached tier expires
            answers = [await http.get(ECHO, headers=gateway.headers) for _ in range(4)]
            await asyncio.sleep(0.3)
            answers.append(await http.get(ECHO, headers=gateway.headers))
            assert [a.status_code for a in answers] == [200] * 5
            # The last known tier is kept, in the limits and in the token.
            assert {a.headers["ratelimit-limit"] for a in answers} == {"10"}
            assert token_tier(answers[-1]) == "pro"
            assert (
                await metric(gateway, 'v100_gateway_tier_lookups_total{outcome="fallback_cached"}')
                >= 1
            )
            assert await metric(gateway, "v100_gateway_tier_source_unreachable") == 1

            # A tenant never seen before gets the default tier, and is served.
            signup = await http.post(
                "/v1/auth/signup",
                json={"email": "new@example.com", "password": "correct horse battery staple",
                      "tenant_name": "New"},
            )  # fmt: skip
            assert signup.status_code == 201, signup.text
            owner = {"Authorization": f"Bearer {signup.json()['access_token']}"}
            fresh = await http.get(ECHO, headers=owner)
            assert fresh.status_code == 200, fresh.text
            assert fresh.headers["ratelimit-limit"] == "500"  # the free tenant quota binds
            assert token_tier(fresh) == "free"
            assert (
                await metric(gateway, 'v100_gateway_tier_lookups_total{outcome="fallback_default"}')
                >= 1
            )


async def test_a_change_whose_event_was_lost_applies_after_the_cache_time(
    backend: str, tmp_path: Path
) -> None:
    engine: list[FastAPI] = []
    async with (
        billing_engine_serving(tmp_path / "billing_engine", engine) as engine_url,
        echo_serving("/v1/credits", tmp_path / "billing") as (echo_url, _),
        gateway_serving(
            tmp_path,
            all_upstreams(billing=echo_url, billing_engine=engine_url),
            rate_limits=limits(tier_cache_seconds=0.5),
        ) as gateway,
        gateway.client() as http,
    ):
        await subscribe(http, gateway, "pro")
        await limit_becomes(http, gateway, "10", "pro")
        changes = "v100_gateway_tier_change_events_total"
        before = await metric(gateway, changes)
        cancel = await http.post("/v1/subscriptions/current/cancel", headers=gateway.headers)
        assert cancel.status_code == 200, cancel.text
        # Its cancel_scheduled event applied (the tier stays until the period ends).
        source = gateway.app.state.runtime.get(RateLimits).tiers
        deadline = time.monotonic() + 10
        while await metric(gateway, changes) == before or source._inflight:
            assert time.monotonic() < deadline, "the cancel_scheduled event was not applied"
            await asyncio.sleep(0.02)
        # The period ends and the cancellation applies, announced on no bus at all.
        sessions = engine[0].state.runtime.sessions
        # (A month ahead of today, so the app's own scheduled run never does it first.)
        month_later = datetime.now(UTC) + timedelta(days=40)
        assert (await run_invoicing(sessions, month_later)).invoiced == 1
        await asyncio.sleep(0.6)
        # The cached tier has expired: the old one is served while it is re-read.
        assert (await http.get(ECHO, headers=gateway.headers)).headers["ratelimit-limit"] == "10"
        await limit_becomes(http, gateway, "5", "free")


async def test_the_tenant_row_remains_a_source(backend: str, tmp_path: Path) -> None:
    """``tier_source="tenant"``: billing_engine is never asked (here it does not even run)."""
    async with (
        echo_serving("/v1/credits", tmp_path / "billing") as (echo_url, _),
        gateway_serving(
            tmp_path, all_upstreams(billing=echo_url), rate_limits=limits(tier_source="tenant")
        ) as gateway,
        gateway.client() as http,
    ):
        answer = await http.get(ECHO, headers=gateway.headers)
        assert answer.status_code == 200
        assert answer.headers["ratelimit-limit"] == "5"
        assert await metric(gateway, "v100_gateway_tier_source_unreachable") == 0
        assert (
            'v100_gateway_tier_lookups_total{outcome="fallback_default"}'
            not in (await http.get("/metrics")).text
        )


@dataclass
class GatedEngine:
    """billing_engine's tier route in miniature: it reads ``tier`` when asked, counts the
    reads, and answers only while ``gate`` is open."""

    tier: str = "free"
    reads: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)


@contextlib.asynccontextmanager
async def gated_tiers(engine: GatedEngine) -> AsyncIterator[SubscriptionTiers]:
    """A ``SubscriptionTiers`` (tiers cached 0.1 s) reading from ``engine``."""
    engine.gate.set()

    async def tier(request: Request) -> JSONResponse:
        engine.reads += 1
        value = engine.tier  # read, then answered only when the test lets it
        await engine.gate.wait()
        return JSONResponse({"tier": value, "subscription_id": None})

    runtime = Runtime(
        settings=GatewaySettings(),
        tokens=InternalTokens(INTERNAL_SECRET),
        metrics=HttpMetrics("gateway"),
        bus=MemoryBus(),
        cache=MemoryCache(),
    )
    async with serving(Starlette(routes=[Route("/v1/subscriptions/current/tier", tier)])) as url:
        tiers = SubscriptionTiers(limits(tier_cache_seconds=0.1), url)
        tiers.bind(runtime)
        try:
            yield tiers
        finally:
            for task in runtime.background:
                task.cancel()
            await asyncio.gather(*runtime.background, return_exceptions=True)


async def test_a_change_announced_during_a_read_is_read_again() -> None:
    """A refresh that read the old tier just before a change was committed must not keep it:
    the change event that arrives while it is in flight makes the gateway read once more."""
    engine = GatedEngine()
    principal = Principal(tenant_id="t1", user_id="u1")
    async with gated_tiers(engine) as tiers:
        assert await tiers.tier(principal) == "free"
        await asyncio.sleep(0.15)  # expired
        engine.gate.clear()
        assert await tiers.tier(principal) == "free"  # stale, while a read is in flight
        await asyncio.sleep(0.1)  # that read has taken "free"
        engine.tier = "pro"  # committed, and announced while the read is in flight
        tiers.changed("t1")
        engine.gate.set()
        deadline = time.monotonic() + 5
        while tiers.cached("t1") != "pro":
            assert time.monotonic() < deadline, tiers.cached("t1")
            await asyncio.sleep(0.01)
        assert await tiers.tier(principal) == "pro"


async def test_the_hit_path_serves_an_expired_tier_while_it_is_read_again() -> None:
    """``tier_now`` (the hit path's) answers as ``tier`` does without waiting: nothing for a
    tenant never read, the expired tier while a read it starts is in flight, and nothing
    once a change is announced (those requests wait on the full path)."""
    engine = GatedEngine()
    principal = Principal(tenant_id="t1", user_id="u1")
    async with gated_tiers(engine) as tiers:
        assert tiers.tier_now(principal) is None  # never read: the full path reads it
        assert await tiers.tier(principal) == "free"
        assert (tiers.tier_now(principal), engine.reads) == ("free", 1)  # fresh: no read
        await asyncio.sleep(0.15)  # expired
        engine.gate.clear()
        engine.tier = "pro"
        assert tiers.tier_now(principal) == "free"  # stale, and a read started
        assert tiers.tier_now(principal) == "free"  # the same read: not a second one
        await asyncio.sleep(0.05)
        assert engine.reads == 2
        engine.gate.set()
        deadline = time.monotonic() + 5
        while tiers.tier_now(principal) != "pro":
            assert time.monotonic() < deadline, tiers.cached("t1")
            await asyncio.sleep(0.01)
        assert engine.reads == 2
        engine.gate.clear()
        tiers.changed("t1")
        assert tiers.tier_now(principal) is None  # a change: wait for it on the full path
        engine.gate.set()

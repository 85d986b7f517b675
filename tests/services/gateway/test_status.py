"""``GET /v1/status``: every one of the 19 services, reached through the gateway's own routing
table with an internal token for the caller; ready only when all of them are."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from starlette.types import Receive, Scope, Send

from v100.contracts.topology import SERVICES
from v100.kit.settings import PlatformSettings
from v100.kit.testing.servers import serving
from v100.services.billing.app import create_app as create_billing
from v100.services.billing.settings import BillingSettings

from .routing_support import (
    INTERNAL_SECRET,
    all_upstreams,
    assert_problem,
    echo_serving,
    gateway_serving,
)


async def never_answers(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await asyncio.sleep(30)


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {service["name"]: service for service in body["services"]}


async def test_status_lists_all_nineteen_services_and_degrades_when_some_are_down(
    tmp_path: Path, database_url: str
) -> None:
    # The real billing service, an echo standing in for realtime, one that is up but not
    # ready, one that never answers, and all the others down.
    billing = create_billing(
        BillingSettings(
            platform=PlatformSettings(
                var_dir=tmp_path / "billing", internal_token_secret=INTERNAL_SECRET
            )
        )
    )
    async with (
        serving(billing) as billing_url,
        echo_serving("/v1/realtime", tmp_path / "realtime") as (realtime_url, _),
        echo_serving("/v1/meetings", tmp_path / "meeting", ready=False) as (meeting_url, _),
        serving(never_answers, lifespan="off") as hanging_url,
    ):
        upstreams = all_upstreams(
            billing=billing_url, realtime=realtime_url, meeting=meeting_url, avatar=hanging_url
        )
        async with (
            gateway_serving(
                tmp_path, upstreams, database_url=database_url, status_timeout_seconds=1.0
            ) as gateway,
            gateway.client() as http,
        ):
            started = time.perf_counter()
            response = await http.get("/v1/status", headers=gateway.headers)
            elapsed = time.perf_counter() - started
            anonymous = await http.get("/v1/status")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded"
    services = by_name(body)
    assert [s["name"] for s in body["services"]] == [info.name for info in SERVICES]
    assert len(services) == 19
    assert "publishing_worker" in services

    assert services["gateway"]["status"] == "ready"
    assert services["gateway"]["checks"]["database"] == "ok"
    assert services["billing"]["status"] == "ready"
    assert services["billing"]["url"] == billing_url
    billing_checks = services["billing"]["checks"]
    assert billing_checks["bus"] == billing_checks["database"] == "ok"
    assert set(billing_checks.values()) == {"ok"}
    assert services["billing"]["latency_ms"] > 0
    assert services["realtime"]["status"] == "ready"
    assert services["meeting"]["status"] == "not_ready"
    assert services["meeting"]["checks"]["fake"].startswith("down")
    assert services["meeting"]["detail"] == "/ready answered 503"
    assert services["avatar"]["status"] == "down"
    assert services["avatar"]["detail"] == "timed out"
    assert elapsed < 2.5  # probed concurrently, each within the timeout
    for name in set(services) - {"gateway", "billing", "realtime", "meeting", "avatar"}:
        assert services[name]["status"] == "down", name
        assert services[name]["detail"]

    assert_problem(anonymous, 401, "unauthorized")


async def test_status_is_ready_when_every_service_answers(tmp_path: Path) -> None:
    # One echo service answers for all eighteen: enough to show the all-ready case.
    async with echo_serving("/v1/credits", tmp_path / "echo") as (url, _):
        live = dict.fromkeys(all_upstreams(), url)
        async with (
            gateway_serving(tmp_path, live, status_timeout_seconds=1.0) as gateway,
            gateway.client() as http,
        ):
            response = await http.get("/v1/status", headers=gateway.headers)
    body = response.json()
    assert body["status"] == "ready", body
    assert {s["status"] for s in body["services"]} == {"ready"}

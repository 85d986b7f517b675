"""The operator's credential (ADR 0027), through the real gateway with billing_engine behind it:
made on the host only (``v100 operator key create``), it publishes plans and grants them; no
tenant credential, not even a ``*`` key or an owner's token, can; an operator key can do nothing
a tenant does; revoked, it stops within the key cache time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from v100.cli import app as cli
from v100.contracts.topology import SERVICES
from v100.kit.settings import PlatformSettings
from v100.kit.testing.servers import dead_url, serving
from v100.services.billing_engine.app import create_app as create_billing_engine
from v100.services.billing_engine.settings import BillingEngineSettings
from v100.services.gateway.app import create_app
from v100.services.gateway.identity import admin
from v100.services.gateway.settings import GatewaySettings
from v100.services.gateway.testing import (
    INTERNAL_SECRET,
    JWT_SECRET,
    Gateway,
    assert_problem,
    gateway_settings_for,
)

PLAN = {"code": "enterprise", "name": "Enterprise", "interval": "monthly",
        "base_price": 500_000, "currency": "USD", "tier": "enterprise"}  # fmt: skip


@pytest.fixture
async def platform(database_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    """The gateway on ``database_url`` with billing_engine (SQLite) behind it."""
    async with AsyncExitStack() as stack:
        engine = create_billing_engine(
            BillingEngineSettings(
                platform=PlatformSettings(
                    var_dir=tmp_path / "engine",
                    internal_token_secret=INTERNAL_SECRET,
                    run_schedules=False,
                ),
                database_url=f"sqlite+aiosqlite:///{tmp_path}/billing_engine.db",
            )
        )
        upstreams = {info.name: dead_url() for info in SERVICES if info.name != "gateway"}
        upstreams["billing_engine"] = await stack.enter_async_context(serving(engine, ready=True))
        settings = gateway_settings_for(
            database_url, tmp_path, upstreams=upstreams, api_key_cache_seconds=0.5
        )
        gateway = create_app(settings)
        url = await stack.enter_async_context(serving(gateway, ready=True))
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=url, trust_env=False, timeout=30)
        )
        yield Gateway(app=gateway, http=http, settings=settings)


async def _tier(platform: Gateway, headers: dict[str, str]) -> str:
    answer = await platform.http.get("/v1/subscriptions/current/tier", headers=headers)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["tier"])


async def test_only_the_operators_key_publishes_and_grants_tiers(platform: Gateway) -> None:
    _, secret = await admin.create_operator_key(
        platform.settings, name="ops", scopes=["operator:billing"]
    )
    operator = {"X-API-Key": secret}
    owner = await platform.signup()
    star = await platform.create_key(owner.headers, ["*"])
    tenant_key = {"X-API-Key": star["key"]}

    # Issue 11, row 2: neither the owner's token nor a "*" key makes a plan.
    for headers in (owner.headers, tenant_key):
        refused = await platform.http.post("/v1/plans", json=PLAN, headers=headers)
        assert_problem(refused, 403, "forbidden")
    made = await platform.http.post("/v1/plans", json=PLAN, headers=operator)
    assert made.status_code == 201, made.text
    # Nor can a tenant make a key that carries the operator's scope.
    wider = await platform.http.post(
        "/v1/api-keys", json={"name": "x", "scopes": ["operator:billing"]}, headers=owner.headers
    )
    assert wider.status_code == 422, wider.text

    listed = await platform.http.get("/v1/plans", headers=owner.headers)
    assert [plan["code"] for plan in listed.json()["items"]] == ["enterprise"]
    subscribed = await platform.http.post(
        "/v1/subscriptions", json={"plan": "enterprise"}, headers=owner.headers
    )
    assert subscribed.json()["status"] == "incomplete", subscribed.text
    assert await _tier(platform, owner.headers) == "free"

    grant = {"tenant_id": owner.tenant_id, "plan": "enterprise"}
    granted = await platform.http.post("/v1/subscriptions/grants", json=grant, headers=operator)
    assert granted.status_code == 200, granted.text
    assert await _tier(platform, owner.headers) == "enterprise"

    # The operator's key acts as no tenant: every tenant route is closed to it.
    for path in ("/v1/tenants/current", "/v1/api-keys", "/v1/subscriptions/current",
                 "/v1/invoices"):  # fmt: skip
        answer = await platform.http.get(path, headers=operator)
        assert_problem(answer, 403, "forbidden")


async def test_a_revoked_operator_key_stops_within_the_cache_time(platform: Gateway) -> None:
    key, secret = await admin.create_operator_key(
        platform.settings, name="ops", scopes=["operator:billing"]
    )
    operator = {"X-API-Key": secret}
    assert (await platform.http.get("/v1/plans", headers=operator)).status_code == 200
    await admin.revoke_operator_key(platform.settings, key.id)
    revoked_at = time.monotonic()
    while True:
        answer = await platform.http.get("/v1/plans", headers=operator)
        if answer.status_code == 401:
            break
        assert answer.status_code == 200, answer.text
        assert time.monotonic() - revoked_at < 5, "still accepted 5 s after its revocation"
        await asyncio.sleep(0.1)
    assert time.monotonic() - revoked_at <= platform.settings.identity.api_key_cache_seconds + 1.0


def test_v100_operator_key_commands(database_url: str, tmp_path: Path) -> None:
    settings: GatewaySettings = gateway_settings_for(database_url, tmp_path)
    env = {
        "V100_VAR_DIR": str(tmp_path),
        "V100_GATEWAY_DATABASE_URL": settings.resolved_database_url,
        "V100_GATEWAY_JWT_SECRET": JWT_SECRET,
    }
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, ["operator", "key", *args], env=env)

    made = run("create", "--name", "ops")
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("v100_sk_")
    assert "operator:billing" in made.stderr
    listed = run("list")
    assert listed.exit_code == 0, listed.output
    (line,) = listed.stdout.strip().splitlines()
    key_id = line.split()[0]
    assert secret[:12] in line
    assert secret not in listed.output
    assert "live" in line
    wrong = run("create", "--name", "bad", "--scope", "*")
    assert wrong.exit_code == 1
    assert "operator scopes only" in wrong.output
    revoked = run("revoke", key_id)
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in run("list").stdout
    assert run("revoke", "no-such-key").exit_code == 1

"""Issue 13's "done means" for the CRM, through the gateway: a tenant connects HubSpot (the
fake's OAuth, the browser sent back to the gateway's public callback with no credential but
the state), a contact made in V100 is pushed to HubSpot, a change made in HubSpot is pulled
back by a sync asked for through the gateway, and the sync log shows both decisions; a wrong
state at the callback is refused and makes nothing. Every service is a real uvicorn server on
loopback; SQLite only (tests/services/integration/test_crm_*.py run the rest on PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from v100.contracts.topology import SERVICES
from v100.kit.settings import PlatformSettings
from v100.kit.testing.fakes.hubspot import FakeHubSpot
from v100.kit.testing.net import free_port
from v100.kit.testing.servers import dead_url, serving
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.testing import (
    INTERNAL_SECRET,
    PASSWORD,
    assert_problem,
    gateway_settings_for,
)
from v100.services.integration.app import create_app as create_integration
from v100.services.integration.settings import IntegrationSettings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

T = TypeVar("T")
CALLBACK_PATH = "/v1/crm/oauth/callback"


async def _until(check: Callable[[], Awaitable[T | None]], within: float = 30.0) -> T:
    deadline = time.monotonic() + within
    value: T | None = None
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within} s (last answer: {value!r})")


async def test_a_contact_syncs_both_ways_with_hubspot_through_the_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite and the in-process bus only: the path through the gateway is what is tested here.
    monkeypatch.delenv("V100_REDIS_URL", raising=False)
    fake = FakeHubSpot()
    gateway_port = free_port()
    public_url = f"http://127.0.0.1:{gateway_port}"

    async with AsyncExitStack() as running:
        hubspot_url = await running.enter_async_context(serving(fake.app, lifespan="off"))
        integration_settings = IntegrationSettings(
            platform=PlatformSettings(
                var_dir=tmp_path / "integration",
                internal_token_secret=INTERNAL_SECRET,
                # The OAuth redirect URI names the way in: the gateway.
                public_url=public_url,
            ),
            database_url=f"sqlite+aiosqlite:///{tmp_path}/integration.db",
            consumer_group=f"e2e-crm-{uuid.uuid4().hex[:8]}",
            consume_from_start=False,
            stream_settle_seconds=0.0,
            crm_sync_poll_seconds=0.05,
            crm_max_wait_seconds=0.2,
            crm_rate_limit_retries=2,
            hubspot_client_id=fake.client_id,
            hubspot_client_secret=SecretStr(fake.client_secret),
            hubspot_authorize_url=f"{hubspot_url}/oauth/authorize",
            hubspot_api_url=hubspot_url,
        )
        integration = await running.enter_async_context(
            serving(create_integration(integration_settings), ready=True)
        )
        # Every other service refuses connections: nothing here may reach the fixed ports of
        # services someone runs on this machine (make up).
        upstreams = {info.name: dead_url() for info in SERVICES if info.name != "gateway"}
        gateway_settings = gateway_settings_for(
            f"sqlite+aiosqlite:///{tmp_path}/gateway.db",
            tmp_path / "gateway",
            upstreams={**upstreams, "integration": integration},
        )
        gateway = await running.enter_async_context(
            serving(create_gateway(gateway_settings), port=gateway_port, ready=True)
        )
        assert gateway == public_url
        http = await running.enter_async_context(
            httpx.AsyncClient(base_url=gateway, trust_env=False, timeout=30)
        )
        # The user's browser: no API key, no token, no cookie of V100's.
        browser = await running.enter_async_context(httpx.AsyncClient(trust_env=False, timeout=30))
        signup = await http.post(
            "/v1/auth/signup",
            json={"email": "crm@example.com", "password": PASSWORD, "tenant_name": "Crm"},
        )
        assert signup.status_code == 201, signup.text
        key = await http.post(
            "/v1/api-keys",
            headers={"Authorization": f"Bearer {signup.json()['access_token']}"},
            json={"name": "e2e", "scopes": ["*"]},
        )
        assert key.status_code == 201, key.text
        http.headers["X-API-Key"] = key.json()["key"]

        async def authorize() -> str:
            started = await http.post(
                "/v1/crm/authorizations", json={"vendor": "hubspot"},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )  # fmt: skip
            assert started.status_code == 201, started.text
            url = str(started.json()["authorize_url"])
            parts = urlsplit(url)
            assert url.startswith(f"{hubspot_url}/oauth/authorize?"), url
            assert parse_qs(parts.query)["redirect_uri"] == [f"{public_url}{CALLBACK_PATH}"]
            return url

        async def connections() -> list[dict[str, Any]]:
            listed = await http.get("/v1/crm/connections")
            assert listed.status_code == 200, listed.text
            return list(listed.json()["items"])

        # 1. Connect: the user says yes at HubSpot, which sends the browser to the gateway.
        callback = fake.auth.approve(await authorize())
        assert callback.startswith(f"{public_url}{CALLBACK_PATH}?code=")
        came_back = await browser.get(callback)
        assert came_back.status_code == 200, came_back.text
        connection = came_back.json()
        assert (connection["vendor"], connection["status"]) == ("hubspot", "active")
        assert connection["account_id"] == str(fake.hub_id)
        assert "access_token" not in connection
        assert "refresh_token" not in connection
        assert fake.auth.grants == ["authorization_code"]
        [listed] = await connections()
        assert (listed["id"], listed["status"]) == (connection["id"], "active")
        path = f"/v1/crm/connections/{connection['id']}"

        async def idle() -> dict[str, Any] | None:
            answer = await http.get(path)
            assert answer.status_code == 200, answer.text
            found: dict[str, Any] = answer.json()
            return None if found["sync_status"] in ("queued", "running") else found

        # 2a. V100 -> HubSpot: a contact made through the gateway is pushed at once.
        created = await http.post(
            f"{path}/contacts",
            json={"email": "Grace@Example.com", "first_name": "Grace", "last_name": "Hopper"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert created.status_code == 201, created.text
        contact_path = f"/v1/crm/contacts/{created.json()['id']}"

        async def pushed() -> dict[str, Any] | None:
            mine = (await http.get(contact_path)).json()
            return mine if not mine["pending_push"] and mine["remote_id"] else None

        mine = await _until(pushed)
        grace = fake.contact_by_email("grace@example.com")
        assert grace is not None, fake.contacts
        assert (grace["firstname"], grace["lastname"]) == ("Grace", "Hopper")
        assert mine["remote_id"] == grace["hs_object_id"]
        assert (await _until(idle))["sync_status"] == "idle"

        # 2b. HubSpot -> V100: an edit made in HubSpot, pulled by a sync asked for here.
        fake.change_contact(mine["remote_id"], firstname="Amazing Grace")
        asked = await http.post(f"{path}/sync")
        assert asked.status_code == 202, asked.text
        assert asked.json()["sync_status"] in ("queued", "running"), asked.text
        ended = await _until(idle)
        assert (ended["sync_status"], ended["last_error"]) == ("idle", None), ended
        again = (await http.get(contact_path)).json()
        assert (again["first_name"], again["last_name"]) == ("Amazing Grace", "Hopper")
        assert again["pending_push"] is False

        log = await http.get(f"{path}/sync-log")
        assert log.status_code == 200, log.text
        decided = [(d["kind"], d["reason"], d["remote_id"]) for d in reversed(log.json()["items"])]
        assert decided == [
            ("pushed", "created in the CRM", mine["remote_id"]),
            ("pulled", "changed in the CRM", mine["remote_id"]),
        ], decided

        # 3. A wrong state at the public callback: refused, no code exchanged, nothing made.
        tampered = fake.auth.approve(await authorize()).replace("state=", "state=x")
        refused = await browser.get(tampered)
        assert_problem(refused, 400, "oauth-state-invalid")
        assert fake.auth.grants == ["authorization_code"]
        assert [c["id"] for c in await connections()] == [connection["id"]]
        assert len(fake.contacts) == 1

"""Provider keys per tenant: set, listed with only a hint (never the key), sealed at rest under a
context that names the tenant and the provider, deleted; the operator's default keys shown as
such; a tenant's OpenAI-compatible base URL held to kit.fetch's rules (a private address is
refused unless the operator's allow-list has it); another tenant sees none of it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from v100.kit.db import unit_of_work
from v100.kit.sealing import Sealer, SealError
from v100.services.ai_orchestration.models import ProviderKey
from v100.services.gateway.testing import assert_problem

from .support import Orchestra, new_tenant

# The module's app per backend (``ao``) and the vendors' servers live on the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = "sk-tenant-own-key-9876"


async def test_a_key_is_sealed_and_only_its_hint_is_ever_shown(ao: Orchestra) -> None:
    tenant = new_tenant()
    answer = await ao.http.put(
        "/v1/agents/providers/anthropic", json={"api_key": KEY}, headers=ao.headers(tenant)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["key_hint"] == "…9876"
    assert KEY not in answer.text

    listed = await ao.http.get("/v1/agents/providers", headers=ao.headers(tenant))
    assert listed.status_code == 200
    assert KEY not in listed.text
    by_provider = {item["provider"]: item for item in listed.json()["items"]}
    assert by_provider["anthropic"]["source"] == "tenant"
    assert by_provider["anthropic"]["key_hint"] == "…9876"
    # The operator's defaults stand for the providers the tenant set no key for.
    assert by_provider["openai"]["source"] == "operator"
    assert by_provider["openai"]["key_hint"] is None

    sessions = ao.app.state.runtime.sessions
    async with unit_of_work(sessions) as session:
        query = select(ProviderKey).where(ProviderKey.tenant_id == tenant)  # the module's app
        row = (await session.execute(query)).scalars().one()
    assert KEY not in row.sealed_key
    sealer = Sealer.from_settings(ao.settings.platform)
    assert sealer.open(row.sealed_key, context=f"provider-key:{tenant}:anthropic") == KEY
    with pytest.raises(SealError):  # copied to another tenant's row, it does not open
        sealer.open(row.sealed_key, context=f"provider-key:{new_tenant()}:anthropic")

    other = await ao.http.get("/v1/agents/providers", headers=ao.headers(new_tenant()))
    assert {item["source"] for item in other.json()["items"]} == {"operator"}


async def test_a_key_is_replaced_and_deleted(ao: Orchestra) -> None:
    tenant = new_tenant()
    for key in ("sk-first-1111", "sk-second-2222"):
        answer = await ao.http.put(
            "/v1/agents/providers/gemini", json={"api_key": key}, headers=ao.headers(tenant)
        )
        assert answer.status_code == 200
    assert answer.json()["key_hint"] == "…2222"
    gone = await ao.http.delete("/v1/agents/providers/gemini", headers=ao.headers(tenant))
    assert gone.status_code == 204
    again = await ao.http.delete("/v1/agents/providers/gemini", headers=ao.headers(tenant))
    assert_problem(again, 404, "not-found")
    # Another tenant cannot delete what it does not have.
    mine = await ao.http.put(
        "/v1/agents/providers/gemini", json={"api_key": KEY}, headers=ao.headers(tenant)
    )
    assert mine.status_code == 200
    theirs = await ao.http.delete("/v1/agents/providers/gemini", headers=ao.headers(new_tenant()))
    assert_problem(theirs, 404, "not-found")


async def test_a_base_url_is_checked_against_ssrf(ao: Orchestra) -> None:
    tenant = new_tenant()
    headers = ao.headers(tenant)
    wrong_provider = await ao.http.put(
        "/v1/agents/providers/anthropic",
        json={"api_key": KEY, "base_url": "https://llm.example.com/v1"},
        headers=headers,
    )
    assert_problem(wrong_provider, 422, "validation-failed")
    for url in ("http://10.1.2.3:8000/v1", "http://169.254.169.254/v1", "ftp://x.example/v1",
                "http://user:pw@127.0.0.1/v1"):  # fmt: skip
        refused = await ao.http.put(
            "/v1/agents/providers/openai", json={"api_key": KEY, "base_url": url}, headers=headers
        )
        assert_problem(refused, 400, "url-not-allowed")
    # Loopback is on this installation's allow-list (a self-hoster's own server).
    allowed = await ao.http.put(
        "/v1/agents/providers/openai",
        json={"api_key": KEY, "base_url": "http://127.0.0.1:8000/v1"},
        headers=headers,
    )
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["base_url"] == "http://127.0.0.1:8000/v1"


async def test_bodies_are_checked(ao: Orchestra) -> None:
    headers = ao.headers(new_tenant())
    unknown = await ao.http.put(
        "/v1/agents/providers/mistral", json={"api_key": KEY}, headers=headers
    )
    assert_problem(unknown, 422, "validation-failed")
    empty = await ao.http.put("/v1/agents/providers/openai", json={"api_key": ""}, headers=headers)
    assert_problem(empty, 422, "validation-failed")
    extra = await ao.http.put(
        "/v1/agents/providers/openai", json={"api_key": KEY, "org": "x"}, headers=headers
    )
    assert_problem(extra, 422, "validation-failed")

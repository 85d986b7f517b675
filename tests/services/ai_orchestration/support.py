"""Helpers for ai_orchestration's tests: the running app with tenant headers, the fake vendors,
creating agents over HTTP, and the tenant's balance at the real billing app."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from tests.support.billed import balance, tenant_principal
from tests.support.billed import new_tenant as new_tenant
from v100.kit.auth import Principal
from v100.kit.testing.fakes.anthropic import AnthropicFake
from v100.kit.testing.fakes.gemini import GeminiFake
from v100.kit.testing.fakes.openai import OpenAIFake
from v100.kit.testing.http import auth_headers
from v100.services.ai_orchestration.settings import AiOrchestrationSettings

INTERNAL_SECRET = "internal-secret-for-ai-orchestration-tests-0123456789"
# Test values, not keys of anything real.
ANTHROPIC_KEY = "sk-ant-operator-0001"
OPENAI_KEY = "sk-openai-operator-0002"
GEMINI_KEY = "gemini-operator-0003"


@dataclass
class Fakes:
    anthropic: AnthropicFake
    openai: OpenAIFake
    gemini: GeminiFake
    urls: dict[str, str] = field(default_factory=dict)


@dataclass
class Orchestra:
    app: FastAPI
    http: httpx.AsyncClient
    settings: AiOrchestrationSettings
    fakes: Fakes

    def headers(
        self, tenant_id: str, *, principal: Principal | None = None, **extra: str
    ) -> dict[str, str]:
        return {**auth_headers(self.app, principal or tenant_principal(tenant_id)), **extra}

    async def create_agent(self, tenant_id: str, **body: Any) -> dict[str, Any]:
        body.setdefault("name", "Helper")
        answer = await self.http.post(
            "/v1/agents",
            json=body,
            headers=self.headers(tenant_id, **{"Idempotency-Key": uuid.uuid4().hex}),
        )
        assert answer.status_code == 201, answer.text
        made: dict[str, Any] = answer.json()
        return made

    async def balance(self, tenant_id: str) -> tuple[int, int]:
        return await balance(self.settings.billing_url, self.app.state.runtime.tokens, tenant_id)


async def run_one_case(
    ao: Orchestra, tenant: str, agent_id: str, prompt: str, expected_facts: list[str]
) -> dict[str, Any]:
    """A sandbox test set of one case run against the agent, polled until it ends: the run."""
    test_set = await ao.http.post(
        "/v1/agents/test-sets",
        json={"name": "FAQ", "cases": [{"prompt": prompt, "expected_facts": expected_facts}]},
        headers=ao.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
    )
    assert test_set.status_code == 201, test_set.text
    run = await ao.http.post(
        f"/v1/agents/{agent_id}/test-runs", json={"test_set_id": test_set.json()["id"]},
        headers=ao.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
    )  # fmt: skip
    assert run.status_code == 202, run.text
    for _ in range(600):
        state: dict[str, Any] = (await ao.http.get(
            f"/v1/agents/{agent_id}/test-runs/{run.json()['id']}", headers=ao.headers(tenant)
        )).json()  # fmt: skip
        if state["status"] in ("completed", "failed"):
            break
        await asyncio.sleep(0.05)
    return state

"""Issue 15's OpenAI-compatible endpoint through the gateway, with the official ``openai`` SDK as
the client, configured only with ``base_url`` (the gateway's ``/v1``) and ``api_key`` (a V100 API
key, which the SDK sends as ``Authorization: Bearer``): an agent answers whole and streamed
(deltas in order, tool-call deltas gathered by the SDK, the usage chunk of include_usage, the
stream closed by [DONE]); a provider's model by name; errors surface as the SDK's own
exceptions; the tokens are billed. The agent's provider is the local fake Anthropic."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from pydantic import SecretStr

from v100.kit.settings import PlatformSettings
from v100.kit.testing.fakes.anthropic import AnthropicFake, ScriptedCall
from v100.kit.testing.fakes.openai import OpenAIFake
from v100.kit.testing.servers import serving
from v100.services.ai_orchestration.app import create_app as create_orchestration
from v100.services.ai_orchestration.settings import AiOrchestrationSettings
from v100.services.billing.app import create_app as create_billing
from v100.services.billing.settings import BillingSettings
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.testing import INTERNAL_SECRET, PASSWORD, gateway_settings_for

pytestmark = [pytest.mark.timeout(300)]

ANTHROPIC_KEY = "sk-ant-e2e-0123"
OPENAI_KEY = "sk-openai-e2e-0123"


@dataclass
class Stack:
    gateway: str
    http: httpx.AsyncClient
    anthropic: AnthropicFake
    openai: OpenAIFake


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """gateway -> ai_orchestration, billing, each a real uvicorn server on loopback;
    ai_orchestration reaches the fake Anthropic and OpenAI with the operator's keys."""
    gateway_port = _free_port()
    platform = PlatformSettings(
        var_dir=tmp_path,
        internal_token_secret=INTERNAL_SECRET,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/{{service}}.db",
        storage_url=f"file://{tmp_path}/objects",
        public_url=f"http://127.0.0.1:{gateway_port}",
    )
    anthropic = AnthropicFake(api_key=ANTHROPIC_KEY)
    openai_fake = OpenAIFake(api_key=OPENAI_KEY)
    async with (
        serving(anthropic.app, lifespan="off") as anthropic_url,
        serving(openai_fake.app, lifespan="off") as openai_url,
        serving(create_billing(BillingSettings(platform=platform)), ready=True) as billing,
    ):
        settings = AiOrchestrationSettings(
            platform=platform, billing_url=billing,
            anthropic_api_key=SecretStr(ANTHROPIC_KEY), anthropic_base_url=anthropic_url,
            openai_api_key=SecretStr(OPENAI_KEY), openai_base_url=openai_url + "/v1",
            provider_max_retries=0,
        )  # fmt: skip
        async with serving(create_orchestration(settings), ready=True) as orchestration:
            upstreams = {"ai_orchestration": orchestration, "billing": billing}
            gateway_settings = gateway_settings_for(
                f"sqlite+aiosqlite:///{tmp_path}/gateway.db", tmp_path, upstreams=upstreams
            )
            async with (
                serving(create_gateway(gateway_settings), port=gateway_port, ready=True) as gw,
                httpx.AsyncClient(base_url=gw, trust_env=False, timeout=60) as http,
            ):
                yield Stack(gw, http, anthropic, openai_fake)


async def _api_key(stack: Stack) -> str:
    signup = await stack.http.post(
        "/v1/auth/signup",
        json={"email": f"c-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD,
              "tenant_name": "Chatty"},
    )  # fmt: skip
    assert signup.status_code == 201, signup.text
    stack.http.headers["Authorization"] = f"Bearer {signup.json()['access_token']}"
    created = await stack.http.post("/v1/api-keys", json={"name": "sdk", "scopes": ["*"]})
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


async def test_the_openai_sdk_chats_with_an_agent_through_the_gateway(stack: Stack) -> None:
    key = await _api_key(stack)
    made = await stack.http.post(
        "/v1/agents", json={"name": "Guide", "instructions": "Answer briefly."},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    agent = f"agent:{made.json()['id']}"
    before = (await stack.http.get("/v1/credits/balance")).json()["available"]

    client = openai.AsyncOpenAI(base_url=f"{stack.gateway}/v1", api_key=key)
    try:
        # Whole.
        stack.anthropic.reply("Paris.", usage=(2000, 10))
        answer = await client.chat.completions.create(
            model=agent, messages=[{"role": "user", "content": "Capital of France?"}]
        )
        assert answer.choices[0].message.content == "Paris."
        assert answer.choices[0].finish_reason == "stop"
        assert answer.usage is not None
        assert answer.usage.total_tokens == 2010
        assert stack.anthropic.requests[-1].body["system"] == "Answer briefly."

        # Streamed, with the usage chunk.
        stack.anthropic.reply(["Par", "is", "."], usage=(100, 3))
        stream = await client.chat.completions.create(
            model=agent, stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "Capital of France?"}],
        )  # fmt: skip
        chunks = [chunk async for chunk in stream]
        ids = {chunk.id for chunk in chunks}
        assert len(ids) == 1
        assert chunks[0].choices[0].delta.role == "assistant"
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Paris."
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        assert finishes[-1] == "stop"
        assert chunks[-1].choices == []
        assert chunks[-1].usage is not None
        assert chunks[-1].usage.total_tokens == 103

        # Tool calls, gathered by the SDK's own stream helper.
        call = ScriptedCall("lookup", {"q": "France"}, chunks=['{"q": ', '"France"}'])
        stack.anthropic.reply(tool_calls=[call], usage=(60, 12))
        tools = [
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "description": "Look a country up.",
                    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
                },
            }
        ]
        async with client.chat.completions.stream(
            model=agent, tools=tools,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "Look France up."}],
        ) as events:  # fmt: skip
            final = await events.get_final_completion()
        calls = final.choices[0].message.tool_calls
        assert calls is not None
        assert calls[0].function.name == "lookup"
        assert calls[0].function.arguments == '{"q": "France"}'
        assert final.choices[0].finish_reason == "tool_calls"

        # A provider's model by name (the operator's OpenAI key, the fake).
        stack.openai.reply("Hi!", usage=(5, 2))
        direct = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert direct.choices[0].message.content == "Hi!"

        # Errors are the SDK's own exceptions, read from OpenAI's error shape.
        with pytest.raises(openai.NotFoundError) as missing:
            await client.chat.completions.create(
                model=f"agent:{uuid.uuid4()}", messages=[{"role": "user", "content": "hi"}]
            )
        assert missing.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(
                model=agent, temperature=0.3, messages=[{"role": "user", "content": "hi"}]
            )
        assert refused.value.param == "temperature"
        wrong = openai.AsyncOpenAI(base_url=f"{stack.gateway}/v1", api_key="v100_sk_wrong")
        with pytest.raises(openai.AuthenticationError):
            await wrong.chat.completions.create(
                model=agent, messages=[{"role": "user", "content": "hi"}]
            )
        await wrong.close()
    finally:
        await client.close()

    # 2,000 read and 10 written (3 credits), 100 and 3 (1), 60 and 12 (1), 5 and 2 (1).
    after = (await stack.http.get("/v1/credits/balance")).json()["available"]
    assert before - after == 6

"""Issue 15's "done means", through the real gateway with a V100 API key, embedded (SQLite,
files on disk) and distributed (PostgreSQL with pgvector, S3): a knowledge base is made, a PDF
(written with fpdf2) and a Markdown file are ingested, a question is answered with citations of
the right documents, an agent that searches the knowledge base is tested in the Training
Sandbox (its expected facts found), and the official ``openai`` SDK chats with it streamed,
configured only with the gateway's ``/v1`` and the API key. The tenant's own key for Anthropic
(the local fake, scripted to ask for the knowledge-base search and then answer) is the model."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fpdf import FPDF

from v100.kit.db import drop_database
from v100.kit.settings import PlatformSettings
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.testing.fakes.anthropic import AnthropicFake, ScriptedCall
from v100.kit.testing.servers import serving
from v100.kit.testing.storage import empty_s3_prefix, s3_settings_or_skip
from v100.services.ai_orchestration.app import create_app as create_orchestration
from v100.services.ai_orchestration.settings import AiOrchestrationSettings
from v100.services.billing.app import create_app as create_billing
from v100.services.billing.settings import BillingSettings
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.testing import INTERNAL_SECRET, PASSWORD, gateway_settings_for
from v100.services.rag_engine.app import create_app as create_rag
from v100.services.rag_engine.settings import RagEngineSettings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TENANT_ANTHROPIC_KEY = "sk-ant-tenant-e2e-0123"
HANDBOOK = """# Returns handbook

## Refunds

Customers can ask for a refund within thirty days of purchase. The money goes back to the
original card within five working days.

## Exchanges

An item can be exchanged once, in any of our shops.
"""
WARRANTY = [
    "Warranty",
    "Every kettle carries a warranty of two years from the date of delivery.",
    "Repairs under warranty are free of charge.",
]
SERVICES = ("gateway", "billing", "ai_orchestration", "rag_engine")


def _pdf() -> bytes:
    pdf = FPDF()
    pdf.set_title("Warranty terms")
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    for line in WARRANTY:
        pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


@dataclass
class Stack:
    gateway: str
    http: httpx.AsyncClient
    anthropic: AnthropicFake

    async def until(self, path: str, done: Any, within: float = 240.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            answer = await self.http.get(path)
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            if done(body):
                return body
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path}: {body}")
            await asyncio.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["embedded", "distributed"])
async def stack(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stack]:
    """gateway -> ai_orchestration -> rag_engine, billing: real uvicorn servers on loopback,
    each on a database of its own; rag_engine's sources on disk or in S3."""
    monkeypatch.delenv("V100_REDIS_URL", raising=False)  # the process's own bus
    gateway_port = _free_port()
    storage_url, prefix = f"file://{tmp_path}/objects", None
    s3: dict[str, Any] = {}
    urls = {name: f"sqlite+aiosqlite:///{tmp_path}/{name}.db" for name in SERVICES}
    if request.param == "distributed":
        admin = postgres_admin_url()
        if admin is None:
            pytest.skip("V100_TEST_POSTGRES_URL is not set")
        settings = s3_settings_or_skip()
        prefix = f"v100test-{uuid.uuid4().hex[:12]}"
        storage_url = f"s3://{settings['bucket']}/{prefix}"
        s3 = {
            "s3_endpoint_url": settings["endpoint_url"],
            "s3_access_key_id": settings["access_key_id"],
            "s3_secret_access_key": settings["secret_access_key"],
        }
        urls = {name: fresh_postgres_url(admin, f"v100_e2e_{name}") for name in SERVICES}
    platform = PlatformSettings(
        var_dir=tmp_path, internal_token_secret=INTERNAL_SECRET, storage_url=storage_url,
        public_url=f"http://127.0.0.1:{gateway_port}", **s3,
    )  # fmt: skip
    anthropic = AnthropicFake(api_key=TENANT_ANTHROPIC_KEY)
    try:
        async with AsyncExitStack() as servers:
            anthropic_url = await servers.enter_async_context(
                serving(anthropic.app, lifespan="off")
            )
            billing = await servers.enter_async_context(
                serving(
                    create_billing(BillingSettings(platform=platform,
                                                   database_url=urls["billing"])),
                    ready=True,
                )
            )  # fmt: skip
            rag = await servers.enter_async_context(
                serving(
                    create_rag(RagEngineSettings(platform=platform, billing_url=billing,
                                                 database_url=urls["rag_engine"])),
                    ready=True,
                )
            )  # fmt: skip
            # No operator key: the tenant brings its own (the fake Anthropic).
            orchestration = await servers.enter_async_context(
                serving(
                    create_orchestration(
                        AiOrchestrationSettings(
                            platform=platform, billing_url=billing, rag_engine_url=rag,
                            database_url=urls["ai_orchestration"],
                            anthropic_base_url=anthropic_url, provider_max_retries=0,
                        )
                    ),
                    ready=True,
                )
            )  # fmt: skip
            upstreams = {"ai_orchestration": orchestration, "rag_engine": rag, "billing": billing}
            gateway = await servers.enter_async_context(
                serving(
                    create_gateway(gateway_settings_for(urls["gateway"], tmp_path,
                                                        upstreams=upstreams)),
                    port=gateway_port, ready=True,
                )
            )  # fmt: skip
            http = await servers.enter_async_context(
                httpx.AsyncClient(base_url=gateway, trust_env=False, timeout=120)
            )
            yield Stack(gateway, http, anthropic)
    finally:
        if request.param == "distributed":
            for url in urls.values():
                await drop_database(url)
            assert prefix is not None
            await empty_s3_prefix(prefix)


async def _api_key(stack: Stack) -> str:
    signup = await stack.http.post(
        "/v1/auth/signup",
        json={"email": f"kb-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD,
              "tenant_name": "Kettles"},
    )  # fmt: skip
    assert signup.status_code == 201, signup.text
    stack.http.headers["Authorization"] = f"Bearer {signup.json()['access_token']}"
    created = await stack.http.post("/v1/api-keys", json={"name": "kb", "scopes": ["*"]})
    assert created.status_code == 201, created.text
    key = str(created.json()["key"])
    stack.http.headers["Authorization"] = f"Bearer {key}"  # from here on, as the API key
    return key


def _keyed() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def test_a_knowledge_base_answers_through_the_gateway(stack: Stack) -> None:
    key = await _api_key(stack)
    http = stack.http
    made = await http.post(
        "/v1/knowledge-bases", json={"name": "Support", "description": "Returns and warranty"},
        headers=_keyed(),
    )  # fmt: skip
    assert made.status_code == 201, made.text
    kb = made.json()["id"]
    assert made.json()["embedding_model"] == "minilm-l6-v2-int8"

    # A PDF and a Markdown file, as files.
    docs = f"/v1/knowledge-bases/{kb}/documents"
    pdf = await http.post(docs, content=_pdf(), params={"name": "warranty.pdf"},
                          headers={**_keyed(), "Content-Type": "application/pdf"})  # fmt: skip
    assert pdf.status_code == 202, pdf.text
    markdown = await http.post(
        docs, content=HANDBOOK.encode(), params={"name": "handbook.md"},
        headers={**_keyed(), "Content-Type": "text/markdown"},
    )  # fmt: skip
    assert markdown.status_code == 202, markdown.text
    ids = {"pdf": pdf.json()["id"], "markdown": markdown.json()["id"]}
    for document in ids.values():
        done = await stack.until(f"{docs}/{document}", lambda d: d["status"] in ("ready", "failed"))
        assert done["status"] == "ready", done
    listed = (await http.get(docs)).json()["items"]
    assert {d["id"] for d in listed} == set(ids.values())

    # A question, answered with citations of the right documents.
    for question, source, quote in (
        ("How long is the warranty on a kettle?", "pdf", "two years"),
        ("How long do customers have to ask for a refund?", "markdown", "thirty days"),
    ):
        answer = await http.post("/v1/rag", json={"question": question, "knowledge_base_ids": [kb]})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["answer"] is not None, body
        assert quote in body["answer"], body
        first = body["citations"][0]
        assert first["document_id"] == ids[source], body
        assert quote in first["quote"]
        assert f"[{first['number']}]" in body["answer"]

    # An agent that searches the knowledge base, on the tenant's own Anthropic key.
    keyed = await http.put("/v1/agents/providers/anthropic", json={"api_key": TENANT_ANTHROPIC_KEY})
    assert keyed.status_code == 200, keyed.text
    agent = await http.post(
        "/v1/agents",
        json={"name": "Support", "instructions": "Answer from the knowledge base; cite it.",
              "knowledge_base_ids": [kb], "tools": [{"type": "knowledge_base_search"}]},
        headers=_keyed(),
    )  # fmt: skip
    assert agent.status_code == 201, agent.text
    agent_id = agent.json()["id"]

    # The Training Sandbox: the model searches, then answers; the facts are checked.
    search = ScriptedCall("knowledge_base_search", {"query": "kettle warranty"})
    stack.anthropic.reply(tool_calls=[search], usage=(300, 20))
    stack.anthropic.reply("A kettle's warranty lasts two years [1].", usage=(700, 15))
    test_set = await http.post(
        "/v1/agents/test-sets",
        json={"name": "Warranty", "cases": [{"prompt": "How long is the kettle warranty?",
                                             "expected_facts": ["two years"]}]},
        headers=_keyed(),
    )  # fmt: skip
    assert test_set.status_code == 201, test_set.text
    run = await http.post(
        f"/v1/agents/{agent_id}/test-runs", json={"test_set_id": test_set.json()["id"]},
        headers=_keyed(),
    )  # fmt: skip
    assert run.status_code == 202, run.text
    settled = await stack.until(
        f"/v1/agents/{agent_id}/test-runs/{run.json()['id']}",
        lambda r: r["status"] in ("completed", "failed"),
    )
    outcome = (settled["status"], settled["passed"], settled["failed"])
    assert outcome == ("completed", 1, 0), settled["error"]
    assert settled["results"][0]["found_facts"] == ["two years"]
    tool_answer = stack.anthropic.requests[-1].body["messages"][-1]["content"][0]
    assert tool_answer["type"] == "tool_result"
    assert "two years from the date of delivery" in json.dumps(tool_answer)

    # The official OpenAI SDK, streamed, through the gateway with the API key.
    stack.anthropic.reply(tool_calls=[search], usage=(300, 20))
    stack.anthropic.reply(["Two years ", "from delivery [1]."], usage=(700, 9))
    client = openai.AsyncOpenAI(base_url=f"{stack.gateway}/v1", api_key=key)
    try:
        stream = await client.chat.completions.create(
            model=f"agent:{agent_id}", stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "How long is the kettle warranty?"}],
        )  # fmt: skip
        chunks = [chunk async for chunk in stream]
    finally:
        await client.close()
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Two years from delivery [1]."
    assert not any(c.choices[0].delta.tool_calls for c in chunks if c.choices)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 300 + 20 + 700 + 9
    tool_answer = stack.anthropic.requests[-1].body["messages"][-1]["content"][0]
    assert "two years from the date of delivery" in json.dumps(tool_answer)

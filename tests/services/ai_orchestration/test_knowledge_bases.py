"""Knowledge bases with a real rag_engine on loopback (``contracts.rag``, scope service:rag):
made with their embedding model up front, documents added as JSON and as files (a PDF) and read
with their status, another knowledge base's or tenant's document 404, deleted with every
passage, each change announced on the knowledge_bases stream; agents naming them (an unknown one
422); the knowledge_base_search tool run in the
tool loop for Anthropic, OpenAI and Gemini (the fakes ask for it, then answer), each call
recorded on the message; and a test run whose facts come from them (without any key, the
extractive answer with numbered citations: test_without_keys.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.services.rag_engine.support import make_pdf
from tests.support.billed import Backend, SharedBilling
from v100.contracts.events import KNOWLEDGE_BASES_STREAM
from v100.kit.db import drop_database
from v100.kit.testing.bus import published
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.testing.fakes.anthropic import ScriptedCall
from v100.kit.testing.servers import serving
from v100.services.gateway.testing import assert_problem
from v100.services.rag_engine.app import create_app as create_rag
from v100.services.rag_engine.settings import RagEngineSettings

from .support import Orchestra, new_tenant, run_one_case

# The module's app per backend (``ao``) and the vendors' servers live on the module's loop.
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

REFUNDS = (
    "# Refunds\n\nCustomers can ask for a refund within thirty days of purchase. "
    "The money goes back to the original card."
)


@contextlib.asynccontextmanager
async def serving_rag_engine(backend: Backend, billing_url: str) -> AsyncIterator[str]:
    """A real rag_engine on a database of its own on the backend (its S3 prefix shared)."""
    database_url = f"sqlite+aiosqlite:///{backend.platform.var_dir}/rag_engine.db"
    if backend.name != "embedded":
        admin = postgres_admin_url()
        assert admin is not None  # a distributed backend is skipped without it
        database_url = fresh_postgres_url(admin)
    settings = RagEngineSettings(
        platform=backend.platform, database_url=database_url, billing_url=billing_url
    )
    try:
        async with serving(create_rag(settings), ready=True) as url:
            yield url
    finally:
        if backend.name != "embedded":
            await drop_database(database_url)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_rag_engine_url(
    module_backend: Backend, shared_billing: SharedBilling
) -> AsyncIterator[str]:
    """The module's app's rag_engine, on its backend."""
    async with serving_rag_engine(module_backend, shared_billing.url(module_backend)) as url:
        yield url


async def _kb(ao: Orchestra, tenant: str, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Handbook")
    made = await ao.http.post(
        "/v1/knowledge-bases", json=body,
        headers=ao.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
    )  # fmt: skip
    assert made.status_code == 201, made.text
    return dict(made.json())


async def _ready(ao: Orchestra, tenant: str, kb: str, document: str) -> dict[str, Any]:
    for _ in range(1200):
        answer = await ao.http.get(
            f"/v1/knowledge-bases/{kb}/documents/{document}", headers=ao.headers(tenant)
        )
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] in ("ready", "failed"):
            return dict(answer.json())
        await asyncio.sleep(0.05)
    raise TimeoutError(document)


async def _add(ao: Orchestra, tenant: str, kb: str, **body: Any) -> dict[str, Any]:
    added = await ao.http.post(
        f"/v1/knowledge-bases/{kb}/documents", json=body,
        headers=ao.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
    )  # fmt: skip
    assert added.status_code == 202, added.text
    return await _ready(ao, tenant, kb, added.json()["id"])


async def test_knowledge_bases_and_their_documents(ao: Orchestra) -> None:
    tenant, other = new_tenant(), new_tenant()
    headers = ao.headers(tenant)
    kb = await _kb(ao, tenant, description="Policies")
    assert (kb["embedding_model"], kb["dimension"]) == ("minilm-l6-v2-int8", 384)
    unknown = await ao.http.post(
        "/v1/knowledge-bases", json={"name": "x", "embedding_model": "no-such-model"},
        headers=ao.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
    )  # fmt: skip
    assert_problem(unknown, 422, "embedding-model-unavailable")

    markdown = await _add(ao, tenant, kb["id"], content=REFUNDS, format="markdown")
    assert markdown["status"] == "ready", markdown
    assert markdown["title"] == "Refunds"
    pdf = make_pdf([["Shipping", "Parcels leave the warehouse every weekday."]], title="Ship")
    uploaded = await ao.http.post(
        f"/v1/knowledge-bases/{kb['id']}/documents", content=pdf, params={"name": "ship.pdf"},
        headers=ao.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex,
                                      "Content-Type": "application/pdf"}),
    )  # fmt: skip
    assert uploaded.status_code == 202, uploaded.text
    assert uploaded.json()["status"] == "queued"
    done = await _ready(ao, tenant, kb["id"], uploaded.json()["id"])
    assert (done["status"], done["format"], done["page_count"]) == ("ready", "pdf", 1)
    bad = await ao.http.post(
        f"/v1/knowledge-bases/{kb['id']}/documents", json={"content": ""},
        headers=ao.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
    )  # fmt: skip
    assert_problem(bad, 422, "validation-failed")
    gif = await ao.http.post(
        f"/v1/knowledge-bases/{kb['id']}/documents", content=b"GIF89a",
        headers=ao.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex,
                                      "Content-Type": "image/gif"}),
    )  # fmt: skip
    assert_problem(gif, 415, "document-format-unsupported")

    listed = await ao.http.get(f"/v1/knowledge-bases/{kb['id']}/documents", headers=headers)
    assert {d["id"] for d in listed.json()["items"]} == {markdown["id"], done["id"]}
    second = await _kb(ao, tenant, name="Other")
    elsewhere = await ao.http.get(
        f"/v1/knowledge-bases/{second['id']}/documents/{markdown['id']}", headers=headers
    )
    assert_problem(elsewhere, 404, "not-found")
    for path in (f"/v1/knowledge-bases/{kb['id']}",
                 f"/v1/knowledge-bases/{kb['id']}/documents"):  # fmt: skip
        assert_problem(await ao.http.get(path, headers=ao.headers(other)), 404, "not-found")
    foreign = await ao.http.post(
        "/v1/agents", json={"name": "x", "knowledge_base_ids": [kb["id"]]},
        headers=ao.headers(other, **{"Idempotency-Key": uuid.uuid4().hex}),
    )  # fmt: skip
    assert_problem(foreign, 422, "knowledge-base-not-found")

    renamed = await ao.http.patch(
        f"/v1/knowledge-bases/{kb['id']}", json={"name": "Policies"}, headers=headers
    )
    assert (renamed.json()["name"], renamed.json()["description"]) == ("Policies", "Policies")
    agent = await ao.create_agent(tenant, knowledge_base_ids=[kb["id"]])
    assert agent["knowledge_base_ids"] == [kb["id"]]

    gone = await ao.http.delete(
        f"/v1/knowledge-bases/{kb['id']}/documents/{done['id']}", headers=headers
    )
    assert gone.status_code == 204
    deleted = await ao.http.delete(f"/v1/knowledge-bases/{kb['id']}", headers=headers)
    assert deleted.status_code == 204
    assert_problem(
        await ao.http.get(f"/v1/knowledge-bases/{kb['id']}", headers=headers), 404, "not-found"
    )
    again = await ao.http.post(
        "/v1/agents", json={"name": "x", "knowledge_base_ids": [kb["id"]]},
        headers=ao.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
    )  # fmt: skip
    assert_problem(again, 422, "knowledge-base-not-found")

    # Every change was announced, in order, for integration's webhooks and event stream.
    events = await published(
        ao.app.state.runtime.bus, KNOWLEDGE_BASES_STREAM, lambda e: e.data["id"] == kb["id"]
    )
    assert [(e.type, e.data.get("document_id")) for e in events] == [
        ("knowledge_base.created", None),
        ("knowledge_base.document.added", markdown["id"]),
        ("knowledge_base.document.added", done["id"]),
        ("knowledge_base.document.removed", done["id"]),
        ("knowledge_base.deleted", None),
    ]
    assert {e.tenant_id for e in events} == {tenant}
    assert events[0].data == {"id": kb["id"], "name": "Handbook",
                              "embedding_model": "minilm-l6-v2-int8", "dimension": 384}  # fmt: skip
    assert events[2].data["document_format"] == "pdf"
    assert events[2].data["document_status"] == "queued"
    assert events[-1].data["name"] == "Policies"


@pytest.mark.parametrize("provider", ["anthropic", "openai", "gemini"])
async def test_the_agent_searches_its_knowledge_bases_in_a_tool_loop(
    ao: Orchestra, provider: str
) -> None:
    tenant = new_tenant()
    kb = await _kb(ao, tenant)
    await _add(ao, tenant, kb["id"], content=REFUNDS, format="markdown")
    agent = await ao.create_agent(
        tenant, provider=provider, knowledge_base_ids=[kb["id"]],
        tools=[{"type": "knowledge_base_search"}],
    )  # fmt: skip
    fake = getattr(ao.fakes, provider)
    fake.reply(tool_calls=[ScriptedCall("knowledge_base_search", {"query": "refund window"})],
               usage=(50, 10))  # fmt: skip
    fake.reply("Within thirty days [1].", usage=(120, 8))
    made = await ao.http.post(
        f"/v1/agents/{agent['id']}/conversations", json={},
        headers=ao.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
    )  # fmt: skip
    turn = await ao.http.post(
        f"/v1/agents/{agent['id']}/conversations/{made.json()['id']}/messages",
        json={"content": "How long do I have to ask for a refund?"},
        headers=ao.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
    )  # fmt: skip
    assert turn.status_code == 201, turn.text
    reply = turn.json()["reply"]
    assert reply["content"] == "Within thirty days [1]."
    assert (reply["input_tokens"], reply["output_tokens"]) == (170, 18)
    [call] = reply["tool_calls"]
    assert call["name"] == "knowledge_base_search"
    assert json.loads(call["arguments"]) == {"query": "refund window"}
    passages = json.loads(call["result"])["passages"]
    assert passages[0]["citation"] == "[1]"
    assert "thirty days" in passages[0]["text"]
    # The tool's answer went back to the vendor; the tool was offered in its shape.
    first, second = fake.requests[-2:]
    assert "knowledge_base_search" in json.dumps(first.body)
    assert "thirty days of purchase" in json.dumps(second.body)


async def test_a_tool_error_is_shown_to_the_model_and_the_loop_is_bounded(ao: Orchestra) -> None:
    tenant = new_tenant()
    kb = await _kb(ao, tenant)
    agent = await ao.create_agent(
        tenant, knowledge_base_ids=[kb["id"]], tools=[{"type": "knowledge_base_search"}]
    )
    ask = ScriptedCall("knowledge_base_search", {"q": "no query"})
    for _ in range(ao.settings.max_tool_rounds):
        ao.fakes.anthropic.reply(tool_calls=[ask], usage=(10, 2))
    ao.fakes.anthropic.reply("I could not search.", usage=(10, 2))
    answer = await ao.http.post(
        "/v1/chat/completions",
        json={"model": f"agent:{agent['id']}", "messages": [{"role": "user", "content": "?"}]},
        headers=ao.headers(tenant),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "I could not search."
    requests = ao.fakes.anthropic.requests[-(ao.settings.max_tool_rounds + 1) :]
    assert requests[-1].body["tool_choice"] == {"type": "none"}
    last = requests[-1].body["messages"][-1]["content"][0]
    assert (last["type"], last.get("is_error")) == ("tool_result", True)
    assert "needs a non-empty 'query'" in json.dumps(last)


async def test_a_test_run_searches_and_pays_for_every_round(ao: Orchestra) -> None:
    tenant = new_tenant()
    kb = await _kb(ao, tenant)
    await _add(ao, tenant, kb["id"], content=REFUNDS, format="markdown")
    agent = await ao.create_agent(
        tenant, knowledge_base_ids=[kb["id"]], tools=[{"type": "knowledge_base_search"}]
    )
    available, _ = await ao.balance(tenant)
    ao.fakes.anthropic.reply(
        tool_calls=[ScriptedCall("knowledge_base_search", {"query": "refund"})],
        usage=(3000, 500),
    )
    ao.fakes.anthropic.reply("Within thirty days [1].", usage=(3000, 500))
    state = await run_one_case(ao, tenant, agent["id"], "Refund window?", ["thirty days"])
    assert (state["status"], state["passed"]) == ("completed", 1), state
    assert (state["input_tokens"], state["output_tokens"]) == (6000, 1000)
    # 6,000 read (6 credits) and 1,000 written (4): more than the hold of one call per case,
    # the rest deducted.
    assert state["credits"] == 10
    assert await ao.balance(tenant) == (available - 10, 0)
    assert "thirty days of purchase" in json.dumps(ao.fakes.anthropic.requests[-1].body)

"""An installation without any operator key, each test with an app of its own (``own_ao``:
the modules' shared apps have the operator's keys): an agent says no LLM is configured (whole
and streamed, a model by name is not found), a conversation's turn costs nothing and reaches no
vendor, the providers list no key, a test run's cases are answered "no-llm", and with knowledge
bases the answer quotes them with numbered citations."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.support.billed import Backend

from .chat_support import stream_chat
from .support import Orchestra, new_tenant, run_one_case
from .test_chat_completions import _error
from .test_conversations import _conversation, _send
from .test_knowledge_bases import REFUNDS, _add, _kb, serving_rag_engine
from .test_sandbox import CASES, _post, _settled

# The vendors' servers live on the module's loop (conftest.py); so do the tests' own apps.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def operator_keys() -> bool:
    return False


@pytest_asyncio.fixture(loop_scope="module")
async def rag_engine_url(backend: Backend, billing_url: str) -> AsyncIterator[str]:
    """A real rag_engine for the test's own app, on its backend."""
    async with serving_rag_engine(backend, billing_url) as url:
        yield url


async def test_without_any_key_an_agent_says_so_and_a_model_is_not_found(own_ao: Orchestra) -> None:
    ao = own_ao
    tenant = new_tenant()
    agent = await ao.create_agent(tenant)
    hi = [{"role": "user", "content": "What is our refund policy?"}]
    answer = await ao.http.post("/v1/chat/completions",
                                json={"model": agent["id"], "messages": hi},
                                headers=ao.headers(tenant))  # fmt: skip
    assert answer.status_code == 200
    assert answer.headers["x-v100-answered-by"] == "no-llm"
    text = answer.json()["choices"][0]["message"]["content"]
    assert text.startswith("No language model is configured")
    assert answer.json()["usage"]["total_tokens"] == 0
    _, payloads = await stream_chat(
        ao, tenant, {"model": agent["id"], "messages": hi,
                     "stream_options": {"include_usage": True}},
    )  # fmt: skip
    assert payloads[1]["choices"][0]["delta"]["content"] == text
    assert payloads[-1] == "[DONE]"
    answer = await ao.http.post("/v1/chat/completions",
                                json={"model": "gpt-4o", "messages": hi},
                                headers=ao.headers(tenant))  # fmt: skip
    error = _error(answer, 404, "model_not_found")
    assert "no openai key" in error["message"]


async def test_without_any_key_the_agent_says_no_llm_is_configured(own_ao: Orchestra) -> None:
    ao = own_ao
    tenant = new_tenant()
    agent = await ao.create_agent(tenant)
    conversation = await _conversation(ao, tenant, agent["id"])
    available, _ = await ao.balance(tenant)
    status, turn = await _send(ao, tenant, agent["id"], conversation, "What is our refund policy?")
    assert status == 201
    reply = turn["reply"]
    assert isinstance(reply, dict)
    assert reply["answered_by"] == "no-llm"
    assert "No language model is configured" in str(reply["content"])
    assert "anthropic" in str(reply["content"])
    assert reply["credits"] is None
    assert reply["input_tokens"] is None
    assert ao.fakes.anthropic.requests == []
    assert await ao.balance(tenant) == (available, 0)


@pytest.mark.slow  # rag_engine loads its embedding model
async def test_without_an_llm_the_answer_quotes_the_knowledge_bases(own_ao: Orchestra) -> None:
    ao = own_ao
    tenant = new_tenant()
    kb = await _kb(ao, tenant)
    document = await _add(ao, tenant, kb["id"], content=REFUNDS, format="markdown")
    agent = await ao.create_agent(tenant, knowledge_base_ids=[kb["id"]])
    question = [{"role": "user", "content": "How long do I have to ask for a refund?"}]
    whole = await ao.http.post(
        "/v1/chat/completions", json={"model": f"agent:{agent['id']}", "messages": question},
        headers=ao.headers(tenant),
    )  # fmt: skip
    assert whole.headers["X-V100-Answered-By"] == "no-llm"
    text = whole.json()["choices"][0]["message"]["content"]
    assert "\u201cCustomers can ask for a refund within thirty days of purchase.\u201d [1]" in text
    assert "[1] Refunds" in text
    assert "No language model is configured" in text
    _, payloads = await stream_chat(ao, tenant, {"model": f"agent:{agent['id']}",
                                                 "messages": question})  # fmt: skip
    chunks = [p for p in payloads if p != "[DONE]"]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == text
    assert payloads[-1] == "[DONE]"

    state = await run_one_case(ao, tenant, agent["id"], question[0]["content"], ["thirty days"])
    assert (state["status"], state["passed"]) == ("completed", 1), state
    assert state["results"][0]["answered_by"] == "no-llm"
    assert document["id"]


async def test_no_key_anywhere_says_so(own_ao: Orchestra) -> None:
    ao = own_ao
    listed = await ao.http.get("/v1/agents/providers", headers=ao.headers(new_tenant()))
    assert [item["source"] for item in listed.json()["items"]] == [None, None, None]


async def test_without_any_key_each_case_says_no_llm_is_configured(own_ao: Orchestra) -> None:
    ao = own_ao
    tenant = new_tenant()
    agent = await ao.create_agent(tenant)
    test_set = await _post(ao, tenant, "/v1/agents/test-sets", {"name": "x", "cases": CASES})
    run = await _post(ao, tenant, f"/v1/agents/{agent['id']}/test-runs",
                      {"test_set_id": test_set["id"]})  # fmt: skip
    run = await _settled(ao, tenant, agent["id"], run["id"])
    assert run["status"] == "completed"
    assert run["credits"] is None
    assert [r["answered_by"] for r in run["results"]] == ["no-llm", "no-llm"]
    assert all(not r["passed"] for r in run["results"])
    assert run["results"][0]["answer"].startswith("No language model is configured")

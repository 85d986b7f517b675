"""Conversations: started on the agent's current version and kept on it after the agent changes;
a turn sends the instructions, the history and the message to the provider (the fake vendors
with scripted replies), stores both with the tokens and the credits captured at the real
billing app; a retried POST replays its answer without a second call; a vendor's refusal and an
unreachable vendor end in documented problems with the hold released (with no key anywhere:
test_without_keys.py)."""

from __future__ import annotations

import uuid

import pytest

from v100.services.gateway.testing import assert_problem

from .support import Orchestra, new_tenant

# The module's app per backend (``ao``) and the vendors' servers live on the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _conversation(ao: Orchestra, tenant: str, agent_id: str, **body: object) -> str:
    answer = await ao.http.post(
        f"/v1/agents/{agent_id}/conversations",
        json=body,
        headers=ao.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def _send(
    ao: Orchestra, tenant: str, agent_id: str, conversation: str, text: str, key: str = ""
) -> tuple[int, dict[str, object]]:
    answer = await ao.http.post(
        f"/v1/agents/{agent_id}/conversations/{conversation}/messages",
        json={"content": text},
        headers=ao.headers(tenant, **{"Idempotency-Key": key or uuid.uuid4().hex}),
    )
    return answer.status_code, answer.json()


async def test_a_turn_is_answered_stored_and_billed(ao: Orchestra) -> None:
    tenant = new_tenant()
    agent = await ao.create_agent(tenant, instructions="You answer in one word.")
    conversation = await _conversation(ao, tenant, agent["id"], title="Weather")
    available, _ = await ao.balance(tenant)

    ao.fakes.anthropic.reply(["Sun", "ny"], usage=(1200, 300))
    status, turn = await _send(ao, tenant, agent["id"], conversation, "Weather in Paris?")
    assert status == 201, turn
    reply = turn["reply"]
    assert isinstance(reply, dict)
    assert reply["content"] == "Sunny"
    assert reply["answered_by"] == "llm"
    assert (reply["input_tokens"], reply["output_tokens"]) == (1200, 300)
    # 1,200 tokens read at 1 credit per 1,000 and 300 written at 4: 2.4, rounded up.
    assert reply["credits"] == 3
    assert await ao.balance(tenant) == (available - 3, 0)
    sent = ao.fakes.anthropic.requests[-1].body
    assert sent["system"] == "You answer in one word."
    assert sent["messages"][-1]["content"][0]["text"] == "Weather in Paris?"

    # The second turn carries the first.
    ao.fakes.anthropic.reply("Rainy", usage=(40, 2))
    await _send(ao, tenant, agent["id"], conversation, "And tomorrow?")
    roles = [m["role"] for m in ao.fakes.anthropic.requests[-1].body["messages"]]
    assert roles == ["user", "assistant", "user"]
    listed = await ao.http.get(
        f"/v1/agents/{agent['id']}/conversations/{conversation}/messages",
        headers=ao.headers(tenant),
    )
    contents = [(m["role"], m["content"]) for m in listed.json()["items"]]
    assert contents == [
        ("user", "Weather in Paris?"), ("assistant", "Sunny"),
        ("user", "And tomorrow?"), ("assistant", "Rainy"),
    ]  # fmt: skip


async def test_a_conversation_keeps_its_version(ao: Orchestra) -> None:
    tenant = new_tenant()
    agent = await ao.create_agent(tenant, instructions="Version one.")
    conversation = await _conversation(ao, tenant, agent["id"])
    changed = await ao.http.patch(
        f"/v1/agents/{agent['id']}", json={"instructions": "Version two."},
        headers=ao.headers(tenant),
    )  # fmt: skip
    assert changed.json()["version"] == 2
    ao.fakes.anthropic.reply("ok", usage=(5, 1))
    _, turn = await _send(ao, tenant, agent["id"], conversation, "hi")
    assert ao.fakes.anthropic.requests[-1].body["system"] == "Version one."
    assert turn["reply"]["agent_version"] == 1  # type: ignore[index]
    newer = await _conversation(ao, tenant, agent["id"])
    ao.fakes.anthropic.reply("ok", usage=(5, 1))
    await _send(ao, tenant, agent["id"], newer, "hi")
    assert ao.fakes.anthropic.requests[-1].body["system"] == "Version two."
    pinned = await _conversation(ao, tenant, agent["id"], version=1)
    read = await ao.http.get(
        f"/v1/agents/{agent['id']}/conversations/{pinned}", headers=ao.headers(tenant)
    )
    assert read.json()["agent_version"] == 1
    missing = await ao.http.post(
        f"/v1/agents/{agent['id']}/conversations", json={"version": 9},
        headers=ao.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex}),
    )  # fmt: skip
    assert_problem(missing, 404, "not-found")


async def test_a_retried_turn_is_answered_once(ao: Orchestra) -> None:
    tenant = new_tenant()
    agent = await ao.create_agent(tenant, provider="openai")
    conversation = await _conversation(ao, tenant, agent["id"])
    ao.fakes.openai.reply("Once.", usage=(10, 2))
    calls = len(ao.fakes.openai.requests)
    first = await _send(ao, tenant, agent["id"], conversation, "hi", key="turn-1")
    again = await _send(ao, tenant, agent["id"], conversation, "hi", key="turn-1")
    assert first == again
    assert len(ao.fakes.openai.requests) == calls + 1
    reused = await _send(ao, tenant, agent["id"], conversation, "other", key="turn-1")
    assert reused[0] == 409


async def test_vendor_failures_are_problems_and_cost_nothing(ao: Orchestra) -> None:
    tenant = new_tenant()
    agent = await ao.create_agent(tenant, provider="openai")
    conversation = await _conversation(ao, tenant, agent["id"])
    available, _ = await ao.balance(tenant)
    ao.fakes.openai.fail_next(1, status=503)
    status, problem = await _send(ao, tenant, agent["id"], conversation, "hi")
    assert (status, problem["type"]) == (503, "/problems/provider-unavailable")
    # A wrong key of the tenant's own (for its own server, here the fake): refused.
    await ao.http.put(
        "/v1/agents/providers/openai",
        json={"api_key": "wrong-key-0000", "base_url": ao.fakes.urls["openai"]},
        headers=ao.headers(tenant),
    )
    status, problem = await _send(ao, tenant, agent["id"], conversation, "hi")
    assert (status, problem["type"]) == (502, "/problems/provider-refused"), problem
    assert await ao.balance(tenant) == (available, 0)
    listed = await ao.http.get(
        f"/v1/agents/{agent['id']}/conversations/{conversation}/messages",
        headers=ao.headers(tenant),
    )
    assert listed.json()["items"] == []

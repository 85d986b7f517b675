"""Agents and their versions: created as version 1 with the installation's default provider and
model written in; every change a new immutable version (earlier ones read as they were), no
change no version; a temperature refused for Anthropic (422) and kept for the others; tools
and knowledge bases checked; deleted with everything of theirs; another tenant's agent is 404."""

from __future__ import annotations

import uuid

import pytest

from v100.services.gateway.testing import assert_problem

from .support import Orchestra, new_tenant

# The module's app per backend (``ao``) and the vendors' servers live on the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_every_change_is_a_new_version(ao: Orchestra) -> None:
    tenant = new_tenant()
    headers = ao.headers(tenant)
    agent = await ao.create_agent(tenant, name="Support", instructions="Be brief.")
    assert agent["version"] == 1
    assert agent["provider"] == "anthropic"
    assert agent["model"] == "claude-sonnet-4-5"
    assert agent["tools"] == []
    assert agent["knowledge_base_ids"] == []

    changed = await ao.http.patch(
        f"/v1/agents/{agent['id']}",
        json={"instructions": "Be very brief."},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    assert changed.json()["instructions"] == "Be very brief."

    # The same values again: no new version.
    same = await ao.http.patch(
        f"/v1/agents/{agent['id']}", json={"instructions": "Be very brief."}, headers=headers
    )
    assert same.json()["version"] == 2

    first = await ao.http.get(f"/v1/agents/{agent['id']}/versions/1", headers=headers)
    assert first.status_code == 200
    assert first.json()["instructions"] == "Be brief."
    assert first.json()["knowledge_base_ids"] == []
    versions = await ao.http.get(f"/v1/agents/{agent['id']}/versions", headers=headers)
    assert [v["version"] for v in versions.json()["items"]] == [2, 1]
    missing = await ao.http.get(f"/v1/agents/{agent['id']}/versions/3", headers=headers)
    assert_problem(missing, 404, "not-found")

    listed = await ao.http.get("/v1/agents", headers=headers)
    assert [(a["id"], a["version"]) for a in listed.json()["items"]] == [(agent["id"], 2)]


async def test_temperature_is_refused_for_anthropic_and_kept_for_others(ao: Orchestra) -> None:
    tenant = new_tenant()
    headers = {**ao.headers(tenant), "Idempotency-Key": uuid.uuid4().hex}
    refused = await ao.http.post(
        "/v1/agents", json={"name": "Warm", "temperature": 0.7}, headers=headers
    )
    body = assert_problem(refused, 422, "temperature-not-supported")
    assert "Anthropic" in body["detail"]

    agent = await ao.create_agent(tenant, name="Warm", provider="openai", temperature=0.7)
    assert agent["model"] == "gpt-4o-mini"
    assert agent["temperature"] == 0.7
    # Moving it to Anthropic with its temperature is refused too, and changes nothing.
    moved = await ao.http.patch(
        f"/v1/agents/{agent['id']}", json={"provider": "anthropic"}, headers=ao.headers(tenant)
    )
    assert_problem(moved, 422, "temperature-not-supported")
    # Clearing it on the way: the new provider's default model, version 2.
    moved = await ao.http.patch(
        f"/v1/agents/{agent['id']}",
        json={"provider": "anthropic", "temperature": None},
        headers=ao.headers(tenant),
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["provider"], moved.json()["model"], moved.json()["version"]) == (
        "anthropic", "claude-sonnet-4-5", 2,
    )  # fmt: skip


async def test_tools_and_bodies_are_checked(ao: Orchestra) -> None:
    tenant = new_tenant()
    tools = [
        {"type": "knowledge_base_search"},
        {"type": "platform_api", "operations": ["videos.list", "transcripts.get"]},
    ]
    agent = await ao.create_agent(tenant, tools=tools)
    assert agent["tools"] == tools
    headers = {**ao.headers(tenant), "Idempotency-Key": uuid.uuid4().hex}
    for bad in (
        {"name": "x", "tools": [{"type": "shell"}]},
        {"name": "x", "tools": [{"type": "platform_api", "operations": ["videos.delete"]}]},
        {"name": "x", "tools": [{"type": "knowledge_base_search"}] * 2},
        {"name": "x", "provider": "mistral"},
        {"name": ""},
        {"name": "x", "max_tokens": 0},
        {"name": "x", "colour": "red"},
    ):
        answer = await ao.http.post("/v1/agents", json=bad, headers=headers)
        assert_problem(answer, 422, "validation-failed")
    # A knowledge base the tenant does not have (tests/.../test_knowledge_bases.py: its own).
    unknown = await ao.http.post(
        "/v1/agents", json={"name": "x", "knowledge_base_ids": [str(uuid.uuid4())]},
        headers={**ao.headers(tenant), "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert_problem(unknown, 422, "knowledge-base-not-found")
    moved = await ao.http.patch(
        f"/v1/agents/{agent['id']}", json={"knowledge_base_ids": ["kb-docs"]},
        headers=ao.headers(tenant),
    )  # fmt: skip
    assert_problem(moved, 422, "knowledge-base-not-found")
    null_name = await ao.http.patch(
        f"/v1/agents/{agent['id']}", json={"name": None}, headers=ao.headers(tenant)
    )
    assert_problem(null_name, 422, "validation-failed")


async def test_create_is_idempotent_and_delete_removes_it(ao: Orchestra) -> None:
    tenant = new_tenant()
    headers = {**ao.headers(tenant), "Idempotency-Key": "create-once"}
    first = await ao.http.post("/v1/agents", json={"name": "Once"}, headers=headers)
    again = await ao.http.post("/v1/agents", json={"name": "Once"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    agent_id = first.json()["id"]

    other = ao.headers(new_tenant())
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/versions")):
        answer = await ao.http.request(
            method, f"/v1/agents/{agent_id}{path}", headers=other,
            json={"name": "b"} if method == "PATCH" else None,
        )  # fmt: skip
        assert_problem(answer, 404, "not-found")

    gone = await ao.http.delete(f"/v1/agents/{agent_id}", headers=ao.headers(tenant))
    assert gone.status_code == 204
    answer = await ao.http.get(f"/v1/agents/{agent_id}/versions/1", headers=ao.headers(tenant))
    assert_problem(answer, 404, "not-found")

"""The Training Sandbox: a test set of prompts with expected facts; a run of an agent's version
against it as a job (each case's answer recorded, passed when every expected fact appears as
words after normalisation), billed once for the run; two versions' runs side by side (fixed and
broken cases); a vendor's refusal failing the run with its hold released; another tenant sees
none of it (with no key anywhere: test_without_keys.py)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from v100.services.ai_orchestration.facts import check_facts, normalise
from v100.services.gateway.testing import assert_problem

from .support import Orchestra, new_tenant

# The module's app per backend (``ao``) and the vendors' servers live on the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")

CASES = [
    {"prompt": "Where is the Eiffel Tower?", "expected_facts": ["Paris", "France"]},
    {"prompt": "How long is the refund window?", "expected_facts": ["30 days"]},
]


def test_facts_are_checked_as_words_after_normalisation() -> None:
    assert normalise("  It's  PARIS, Montréal! ") == "it s paris montreal"
    assert check_facts("It is in Paris (France).", ["paris", "FRANCE"]) == (["paris", "FRANCE"], [])
    assert check_facts("Refunds within 30 days.", ["30 days"]) == (["30 days"], [])
    # Words, not meaning: neither a paraphrase nor a part of a word counts.
    assert check_facts("within thirty days", ["30 days"]) == ([], ["30 days"])
    assert check_facts("Parisian style", ["Paris"]) == ([], ["Paris"])


async def _post(ao: Orchestra, tenant: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await ao.http.post(
        path, json=body, headers=ao.headers(tenant, **{"Idempotency-Key": uuid.uuid4().hex})
    )
    assert answer.status_code in (201, 202), answer.text
    made: dict[str, Any] = answer.json()
    return made


async def _settled(ao: Orchestra, tenant: str, agent_id: str, run_id: str) -> dict[str, Any]:
    for _ in range(300):
        answer = await ao.http.get(
            f"/v1/agents/{agent_id}/test-runs/{run_id}", headers=ao.headers(tenant)
        )
        run: dict[str, Any] = answer.json()
        if run["status"] in ("completed", "failed"):
            return run
        await asyncio.sleep(0.05)
    raise TimeoutError(run)


async def test_runs_of_two_versions_compared(ao: Orchestra) -> None:
    tenant = new_tenant()
    agent = await ao.create_agent(tenant, provider="openai", instructions="Be accurate.")
    test_set = await _post(ao, tenant, "/v1/agents/test-sets", {"name": "FAQ", "cases": CASES})
    assert test_set["cases"] == CASES
    available, _ = await ao.balance(tenant)

    ao.fakes.openai.reply("It is in Paris, France.", usage=(400, 100))
    ao.fakes.openai.reply("You have two weeks.", usage=(400, 100))
    first = await _post(ao, tenant, f"/v1/agents/{agent['id']}/test-runs",
                        {"test_set_id": test_set["id"]})  # fmt: skip
    assert first["status"] == "queued"
    assert first["agent_version"] == 1
    run = await _settled(ao, tenant, agent["id"], first["id"])
    assert run["status"] == "completed", run
    assert (run["passed"], run["failed"], run["cases"]) == (1, 1, 2)
    results = run["results"]
    assert [r["passed"] for r in results] == [True, False]
    assert results[1]["missing_facts"] == ["30 days"]
    assert results[1]["answer"] == "You have two weeks."
    assert ao.fakes.openai.requests[-1].body["messages"][0]["content"] == "Be accurate."
    # 800 read and 200 written: 0.8 + 0.8 credits, rounded up, for the whole run.
    assert run["credits"] == 2
    assert await ao.balance(tenant) == (available - 2, 0)

    await ao.http.patch(
        f"/v1/agents/{agent['id']}", json={"instructions": "Refunds: 30 days."},
        headers=ao.headers(tenant),
    )  # fmt: skip
    ao.fakes.openai.reply("Somewhere in Europe.", usage=(10, 5))
    ao.fakes.openai.reply("Within 30 days.", usage=(10, 5))
    second = await _post(ao, tenant, f"/v1/agents/{agent['id']}/test-runs",
                         {"test_set_id": test_set["id"]})  # fmt: skip
    assert second["agent_version"] == 2
    await _settled(ao, tenant, agent["id"], second["id"])

    compared = await ao.http.get(
        f"/v1/agents/{agent['id']}/test-runs/{first['id']}/compare/{second['id']}",
        headers=ao.headers(tenant),
    )
    assert compared.status_code == 200, compared.text
    body = compared.json()
    assert (body["a"]["agent_version"], body["b"]["agent_version"]) == (1, 2)
    assert (body["fixed"], body["broken"]) == (1, 1)
    assert [c["change"] for c in body["cases"]] == ["broken", "fixed"]
    assert body["cases"][1]["b"]["answer"] == "Within 30 days."

    listed = await ao.http.get(f"/v1/agents/{agent['id']}/test-runs", headers=ao.headers(tenant))
    assert [r["id"] for r in listed.json()["items"]] == [second["id"], first["id"]]
    other = ao.headers(new_tenant())
    for path in (f"/v1/agents/test-sets/{test_set['id']}",
                 f"/v1/agents/{agent['id']}/test-runs/{first['id']}"):  # fmt: skip
        assert_problem(await ao.http.get(path, headers=other), 404, "not-found")


async def test_runs_of_different_sets_do_not_compare(ao: Orchestra) -> None:
    tenant = new_tenant()
    agent = await ao.create_agent(tenant, provider="openai")
    runs = []
    for name in ("one", "two"):
        made = await _post(ao, tenant, "/v1/agents/test-sets", {"name": name, "cases": CASES[:1]})
        ao.fakes.openai.reply("Paris, France.", usage=(5, 5))
        run = await _post(ao, tenant, f"/v1/agents/{agent['id']}/test-runs",
                          {"test_set_id": made["id"]})  # fmt: skip
        await _settled(ao, tenant, agent["id"], run["id"])
        runs.append(run["id"])
    answer = await ao.http.get(
        f"/v1/agents/{agent['id']}/test-runs/{runs[0]}/compare/{runs[1]}",
        headers=ao.headers(tenant),
    )
    assert_problem(answer, 409, "test-runs-not-comparable")


async def test_a_refused_key_fails_the_run_and_releases_its_hold(ao: Orchestra) -> None:
    tenant = new_tenant()
    agent = await ao.create_agent(tenant, provider="openai")
    await ao.http.put(
        "/v1/agents/providers/openai",
        json={"api_key": "wrong-0000", "base_url": ao.fakes.urls["openai"]},
        headers=ao.headers(tenant),
    )
    test_set = await _post(ao, tenant, "/v1/agents/test-sets", {"name": "x", "cases": CASES})
    available, _ = await ao.balance(tenant)
    run = await _post(ao, tenant, f"/v1/agents/{agent['id']}/test-runs",
                      {"test_set_id": test_set["id"]})  # fmt: skip
    run = await _settled(ao, tenant, agent["id"], run["id"])
    assert run["status"] == "failed"
    assert run["error"]["type"] == "/problems/provider-refused"
    assert await ao.balance(tenant) == (available, 0)

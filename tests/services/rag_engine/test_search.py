"""Search and answers on both backends with the real local MiniLM embedder: each mode ranks
the passage that answers first, filters on document metadata still give k passages, knowledge
bases stay apart, bad requests are problem+json, and /v1/rag answers with quoted sentences and
numbered citations (never invented text), saying no LLM is configured, whole or streamed as
Server-Sent Events."""

from __future__ import annotations

import uuid

import pytest

from .support import RagApp, new_tenant, sse

# One app per backend for the module (``shared_rag``): its tests run on the module's loop, each
# for tenants of its own.
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture
def rag(shared_rag: RagApp) -> RagApp:
    return shared_rag


QUESTION = "Within how many days can I get a refund?"

FACTS = [
    ("Refunds", "Customers can ask for a refund within thirty days of purchase. "
                "The money goes back to the original card."),
    ("Shipping", "Parcels leave the warehouse every weekday. Delivery takes three to five "
                 "working days in Europe."),
    ("Support", "The support line answers calls from nine to five. Urgent outages are handled "
                "around the clock by the on-call engineer."),
]  # fmt: skip


async def library(rag: RagApp, tenant: str) -> tuple[str, dict[str, str]]:
    base = f"kb-{uuid.uuid4().hex[:8]}"
    ids = {}
    for index, (title, body) in enumerate(FACTS):
        done = await rag.add(tenant, {
            "knowledge_base_id": base, "title": title, "content": f"# {title}\n\n{body}",
            "format": "markdown", "metadata": {"team": "ops" if index else "sales", "n": index},
        })  # fmt: skip
        assert done["status"] == "ready", done
        ids[title] = done["id"]
    return base, ids


async def test_every_mode_finds_the_passage_that_answers(rag: RagApp) -> None:
    tenant = new_tenant()
    base, ids = await library(rag, tenant)
    for mode in ("vector", "fulltext", "hybrid"):
        body = {"query": "How long does delivery take?", "knowledge_base_ids": [base],
                "mode": mode, "k": 3}  # fmt: skip
        answer = await rag.search(tenant, body)
        assert answer.status_code == 200, answer.text
        found = answer.json()
        assert found["mode"] == mode
        first = found["passages"][0]
        assert first["document_id"] == ids["Shipping"], (mode, found)
        assert first["heading_path"] == ["Shipping"]
        assert first["number"] == 1
        scores = [p["score"] for p in found["passages"]]
        assert scores == sorted(scores, reverse=True)
        if mode == "hybrid":
            assert first["vector_rank"] == 1
            assert first["fulltext_rank"] == 1
        else:
            assert first["vector_rank"] is None


async def test_a_metadata_filter_narrows_what_is_searched(rag: RagApp) -> None:
    tenant = new_tenant()
    base, ids = await library(rag, tenant)
    for mode in ("vector", "fulltext", "hybrid"):
        answer = await rag.search(tenant, {"query": "refund card delivery support",
                                           "knowledge_base_ids": [base], "mode": mode,
                                           "k": 10, "filter": {"team": "ops"}})  # fmt: skip
        documents = {p["document_id"] for p in answer.json()["passages"]}
        assert documents == {ids["Shipping"], ids["Support"]}, mode
    one = await rag.search(tenant, {"query": "anything at all", "knowledge_base_ids": [base],
                                    "mode": "vector", "k": 1, "filter": {"n": 2}})  # fmt: skip
    assert [p["document_id"] for p in one.json()["passages"]] == [ids["Support"]]
    none = await rag.search(tenant, {"query": "refund", "knowledge_base_ids": [base],
                                     "filter": {"team": "nobody"}})  # fmt: skip
    assert none.json()["passages"] == []


async def test_knowledge_bases_are_searched_only_when_named(rag: RagApp) -> None:
    tenant = new_tenant()
    first, _ = await library(rag, tenant)
    second = f"kb-{uuid.uuid4().hex[:8]}"
    await rag.add(tenant, {"knowledge_base_id": second, "content": "Refunds are never given."})
    only_second = await rag.search(tenant, {"query": "refund", "knowledge_base_ids": [second]})
    assert {p["knowledge_base_id"] for p in only_second.json()["passages"]} == {second}
    both = await rag.search(tenant, {"query": "refund", "knowledge_base_ids": [first, second],
                                     "k": 20})  # fmt: skip
    assert {p["knowledge_base_id"] for p in both.json()["passages"]} == {first, second}
    unknown = await rag.search(tenant, {"query": "refund", "knowledge_base_ids": ["nothing"]})
    assert unknown.status_code == 200
    assert unknown.json()["passages"] == []


async def test_rag_quotes_the_sentences_that_answer_with_numbered_citations(
    rag: RagApp,
) -> None:
    tenant = new_tenant()
    base, ids = await library(rag, tenant)
    asked = await rag.ask(tenant, {"question": "Within how many days can I get a refund?",
                                   "knowledge_base_ids": [base], "k": 3})  # fmt: skip
    assert asked.status_code == 200, asked.text
    answer = asked.json()
    assert answer["llm"] is None
    assert "No LLM is configured" in answer["note"]
    assert answer["citations"], answer
    first = answer["citations"][0]
    assert first["quote"] == "Customers can ask for a refund within thirty days of purchase."
    assert first["document_id"] == ids["Refunds"]
    passage = answer["passages"][first["number"] - 1]
    assert passage["document_id"] == first["document_id"]
    assert first["quote"] in passage["text"]
    assert f"\u201c{first['quote']}\u201d [{first['number']}]" in answer["answer"]
    # Every quote is words of the passage it cites: nothing is invented.
    for citation in answer["citations"]:
        assert citation["quote"] in answer["passages"][citation["number"] - 1]["text"]
    quoted = [line for line in answer["answer"].split("\n") if line]
    assert len(quoted) == len(answer["citations"])


async def test_rag_has_no_answer_when_nothing_matches(rag: RagApp) -> None:
    tenant = new_tenant()
    base, _ = await library(rag, tenant)
    asked = await rag.ask(tenant, {"question": "What is the airspeed of an unladen swallow?",
                                   "knowledge_base_ids": [base]})  # fmt: skip
    answer = asked.json()
    assert answer["answer"] is None
    assert answer["citations"] == []
    assert answer["llm"] is None
    assert len(answer["passages"]) == 3  # what was retrieved is still shown


@pytest.mark.parametrize(
    "body",
    [
        {"query": "", "knowledge_base_ids": ["kb"]},
        {"query": "x", "knowledge_base_ids": []},
        {"query": "x", "knowledge_base_ids": ["kb"], "k": 0},
        {"query": "x", "knowledge_base_ids": ["kb"], "k": 51},
        {"query": "x", "knowledge_base_ids": ["kb"], "mode": "magic"},
        {"query": "x", "knowledge_base_ids": ["kb"], "filter": {"a": {"b": 1}}},
        {"query": "x", "knowledge_base_ids": ["kb"], "extra": True},
    ],
)
async def test_bad_searches_are_refused(rag: RagApp, body: dict[str, object]) -> None:
    answer = await rag.search(new_tenant(), body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    asked = await rag.ask(new_tenant(), {"question": "", "knowledge_base_ids": ["kb"]})
    assert asked.status_code == 422


async def test_reranked_results_carry_their_relevance(rag: RagApp) -> None:
    tenant = new_tenant()
    base, ids = await library(rag, tenant)
    for mode in ("vector", "fulltext", "hybrid"):
        answer = await rag.search(tenant, {"query": "How long does delivery take?",
                                           "knowledge_base_ids": [base], "mode": mode, "k": 2,
                                           "rerank": True})  # fmt: skip
        assert answer.status_code == 200, answer.text
        passages = answer.json()["passages"]
        # Full text finds only the passage with the word; the others take the two nearest.
        assert len(passages) == (1 if mode == "fulltext" else 2), mode
        assert passages[0]["document_id"] == ids["Shipping"], mode
        assert [p["number"] for p in passages] == list(range(1, len(passages) + 1))
        scores = [p["rerank_score"] for p in passages]
        assert None not in scores
        assert scores[0] == max(scores)  # MMR takes the most relevant first
    plain = await rag.search(tenant, {"query": "delivery", "knowledge_base_ids": [base]})
    assert all(p["rerank_score"] is None for p in plain.json()["passages"])


async def test_without_an_llm_the_stream_carries_the_quoted_answer(rag: RagApp) -> None:
    tenant = new_tenant()
    base, _ = await library(rag, tenant)
    body = {"question": QUESTION, "knowledge_base_ids": [base], "k": 3, "stream": True}
    answered = await rag.http.post("/v1/rag", json=body, headers=rag.headers(tenant))
    events = sse(answered.text)
    assert [name for name, _ in events] == ["passages", "delta", "citations", "done"]
    assert events[1][1]["text"].startswith("\u201cCustomers can ask for a refund")
    assert events[2][1]["citations"][0]["quote"]
    assert events[3][1]["llm"] is None
    assert "No LLM is configured" in events[3][1]["note"]

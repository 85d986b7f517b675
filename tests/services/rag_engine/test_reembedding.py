"""Re-embedding a knowledge base into another model, on both backends: made with the local
MiniLM, re-embedded into OpenAI's (the local fake of its API) through ``contracts.rag`` under
the platform scope ``service:rag``: the job copies every passage into a new space, switches the
knowledge base in one commit (its searches then embed queries with OpenAI, its old vectors
gone), and is charged like an ingestion; a document ingested meanwhile ends in the new model. A
failed re-embedding leaves the old model searching; a tenant's own credential cannot ask; bad
requests are problems."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import numpy as np
import pytest
from pydantic import SecretStr

from v100.contracts.rag import RagClient, RagError, ReembeddingInfo, connect_rag
from v100.kit.testing.fakes.openai import OpenAIFake
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import serving
from v100.kit.vectors import vector_store
from v100.services.rag_engine.app import create_app
from v100.services.rag_engine.embedders import EMBEDDERS
from v100.services.rag_engine.repository import CollectionRepository
from v100.services.rag_engine.settings import RagEngineSettings

from .support import RagApp, new_tenant

pytestmark = pytest.mark.slow

OPENAI_MODEL = "openai/text-embedding-3-small"
PASSAGE = "Beavers build dams across streams."
QUESTION = "Which animal builds dams?"


@pytest.fixture
async def openai() -> AsyncIterator[tuple[OpenAIFake, str]]:
    fake = OpenAIFake(api_key="sk-test")
    async with serving(fake.app, lifespan="off") as url:
        yield fake, url + "/v1"


@pytest.fixture
async def both(
    rag_settings: RagEngineSettings, openai: tuple[OpenAIFake, str]
) -> AsyncIterator[tuple[RagApp, RagClient]]:
    """rag_engine able to run OpenAI's model (new knowledge bases still get MiniLM), served on
    loopback for the contracts client."""
    _, url = openai
    settings = rag_settings.model_copy(
        update={"openai_api_key": SecretStr("sk-test"), "openai_base_url": url}
    )
    app = create_app(settings)
    async with running_app(app) as http, serving(app, lifespan="off") as served:
        client = connect_rag(served, settings.platform)
        try:
            yield RagApp(app=app, http=http, settings=settings), client
        finally:
            await client.aclose()


async def settled(client: RagClient, tenant: str, started: ReembeddingInfo) -> ReembeddingInfo:
    for _ in range(1200):
        now = await client.reembedding(tenant, started.id)
        if now.status in ("done", "failed"):
            return now
        await asyncio.sleep(0.05)
    raise TimeoutError(now.status)


async def test_a_knowledge_base_moves_to_another_model(
    both: tuple[RagApp, RagClient], openai: tuple[OpenAIFake, str]
) -> None:
    (rag, client), (fake, _) = both, openai
    tenant, base = new_tenant(), f"kb-{uuid.uuid4().hex[:6]}"
    for text in (PASSAGE, "Owls hunt at night.", "Salmon swim upstream to spawn."):
        done = await rag.add(tenant, {"knowledge_base_id": base, "content": text})
        assert done["status"] == "ready", done
    aligned = np.zeros(1536, dtype=np.float32)
    aligned[3] = 1.0
    fake.register(PASSAGE, aligned)
    fake.register(QUESTION, aligned)
    before, _ = await rag.balance(tenant)

    started = await client.reembed(tenant, base, OPENAI_MODEL)
    assert started.status == "queued"
    assert (started.from_model, started.to_model) == ("minilm-l6-v2-int8", OPENAI_MODEL)
    assert started.dimension == 1536
    finished = await settled(client, tenant, started)
    assert finished.status == "done", finished
    assert finished.passage_count == finished.embedded_count == 3
    assert finished.credits_charged == 1
    assert await rag.balance(tenant) == (before - 1, 0)
    embedded = [r.body["input"] for r in fake.requests if r.path.endswith("/embeddings")]
    assert any(PASSAGE in batch for batch in embedded)

    calls = len(fake.requests)
    found = await rag.search(tenant, {"query": QUESTION, "knowledge_base_ids": [base],
                                      "mode": "vector"})  # fmt: skip
    assert found.status_code == 200, found.text
    best = found.json()["passages"][0]
    assert best["text"] == PASSAGE
    assert best["score"] == pytest.approx(1.0, abs=1e-4)
    assert len(fake.requests) == calls + 1  # the query went to the new model
    # The old space's vectors went with the switch; a new document goes to the new model.
    async with rag.app.state.runtime.sessions() as session:
        store = vector_store(session)
        collection = await CollectionRepository(session).by_knowledge_base(tenant, base)
        assert collection is not None
        assert collection.embedding_model == OPENAI_MODEL
        assert collection.space_id is not None
        assert await store.count(session, tenant, collection.id, None) == 0
        assert await store.count(session, tenant, collection.vectors_id, None) == 3
    more = await rag.add(tenant, {"knowledge_base_id": base, "content": "Otters use stones."})
    assert more["status"] == "ready"
    assert any("Otters use stones." in r.body["input"] for r in fake.requests
               if r.path.endswith("/embeddings"))  # fmt: skip


async def test_a_failed_reembedding_keeps_the_old_model(
    both: tuple[RagApp, RagClient], openai: tuple[OpenAIFake, str]
) -> None:
    (rag, client), (fake, _) = both, openai
    tenant, base = new_tenant(), f"kb-{uuid.uuid4().hex[:6]}"
    done = await rag.add(tenant, {"knowledge_base_id": base, "content": "Owls hunt at night."})
    assert done["status"] == "ready"
    before, _ = await rag.balance(tenant)
    fake.fail_next(20, status=400)
    started = await client.reembed(tenant, base, OPENAI_MODEL)
    finished = await settled(client, tenant, started)
    assert finished.status == "failed"
    assert finished.error == "embedding-refused"
    assert await rag.balance(tenant) == (before, 0)  # the hold went back
    night = await rag.search(tenant, {"query": "when do owls hunt", "knowledge_base_ids": [base],
                                      "mode": "vector"})  # fmt: skip
    assert night.json()["passages"][0]["text"] == "Owls hunt at night."


async def test_bad_reembeddings_are_refused(both: tuple[RagApp, RagClient]) -> None:
    rag, client = both
    tenant, base = new_tenant(), f"kb-{uuid.uuid4().hex[:6]}"
    await rag.add(tenant, {"knowledge_base_id": base, "content": "Owls hunt at night."})
    with pytest.raises(RagError) as unknown_base:
        await client.reembed(tenant, "kb-none", OPENAI_MODEL)
    assert unknown_base.value.status == 404
    for model in ("minilm-l6-v2-int8", "openai/text-embedding-3-large", "nothing"):
        with pytest.raises(RagError) as refused:
            await client.reembed(tenant, base, model)
        assert refused.value.status == 422, model
        assert refused.value.problem["type"] == "/problems/embedding-model-unavailable"
    with pytest.raises(RagError) as other_tenant:
        await client.reembed(new_tenant(), base, OPENAI_MODEL)
    assert other_tenant.value.status == 404
    # A tenant's own credential, even with every scope, cannot ask.
    asked = await rag.http.post(
        "/v1/reembeddings", json={"knowledge_base_id": base, "embedding_model": OPENAI_MODEL},
        headers=rag.headers(tenant),
    )  # fmt: skip
    assert asked.status_code == 403, asked.text


async def test_a_document_ingested_during_the_reembedding_ends_in_the_new_model(
    rag_settings: RagEngineSettings, openai: tuple[OpenAIFake, str]
) -> None:
    """A knowledge base on OpenAI's model is moved to MiniLM while a document's embedding is
    held up at OpenAI (a 429 with Retry-After): whichever commits first, the document ends up
    searchable in the new space, embedded by MiniLM, and nothing is left in the old one."""
    fake, url = openai
    settings = rag_settings.model_copy(update={
        "embedding_backend": "openai", "openai_api_key": SecretStr("sk-test"),
        "openai_base_url": url,
    })  # fmt: skip
    app = create_app(settings)
    async with running_app(app) as http, serving(app, lifespan="off") as served:
        rag, client = (
            RagApp(app=app, http=http, settings=settings),
            connect_rag(served, settings.platform),
        )
        try:
            tenant, base = new_tenant(), f"kb-{uuid.uuid4().hex[:6]}"
            first = await rag.add(tenant, {"knowledge_base_id": base, "content": PASSAGE})
            assert first["status"] == "ready", first
            warm = await rag.search(tenant, {"query": "warm", "knowledge_base_ids": ["none"]})
            assert warm.status_code == 200
            minilm = EMBEDDERS.get("minilm-l6-v2-int8", settings)
            assert minilm is not None
            await minilm.embed(["the model loaded before the race"])

            fake.fail_next(1, status=429, retry_after=6.0)
            late = await rag.create(tenant, {"knowledge_base_id": base,
                                             "content": "Otters use stones as tools."})  # fmt: skip
            assert late.status_code == 202
            await asyncio.sleep(0.5)  # its job is waiting on OpenAI's Retry-After
            started = await client.reembed(tenant, base, "minilm-l6-v2-int8")
            finished = await settled(client, tenant, started)
            assert finished.status == "done", finished
            done = await rag.wait(tenant, late.json()["id"])
            assert done["status"] == "ready", done

            asked = {"query": "Which animal uses tools?", "knowledge_base_ids": [base],
                     "mode": "vector"}  # fmt: skip
            found = await rag.search(tenant, asked)
            texts = [p["text"] for p in found.json()["passages"]]
            assert set(texts) == {PASSAGE, "Otters use stones as tools."}
            async with app.state.runtime.sessions() as session:
                collection = await CollectionRepository(session).by_knowledge_base(tenant, base)
                assert collection is not None
                assert (collection.embedding_model, collection.dimension) == (
                    "minilm-l6-v2-int8", 384,
                )  # fmt: skip
                store = vector_store(session)
                assert await store.count(session, tenant, collection.vectors_id, None) == 2
                assert await store.count(session, tenant, collection.id, None) == 0
        finally:
            await client.aclose()

"""A knowledge base keeps the embedding model it was made with, on both backends: made while
OpenAI's embeddings (the local fake of its API) are configured, its vectors are 1,536-d (that
dimension's index or table prepared at run time) and its queries go to OpenAI too, while a
knowledge base made with the local model stays on it; one search over both is refused rather
than comparing their vectors; OpenAI chosen without a key answers 501."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import numpy as np
import pytest
from pydantic import SecretStr

from v100.kit.testing.fakes.openai import OpenAIFake
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import serving
from v100.services.rag_engine.app import create_app
from v100.services.rag_engine.settings import RagEngineSettings

from .support import RagApp, new_tenant

pytestmark = pytest.mark.slow


@pytest.fixture
async def openai_url() -> AsyncIterator[tuple[OpenAIFake, str]]:
    fake = OpenAIFake(api_key="sk-test")
    async with serving(fake.app, lifespan="off") as url:
        yield fake, url + "/v1"


async def test_each_knowledge_base_keeps_its_model(
    rag: RagApp, rag_settings: RagEngineSettings, openai_url: tuple[OpenAIFake, str]
) -> None:
    fake, url = openai_url
    tenant = new_tenant()
    local_kb, openai_kb = f"kb-{uuid.uuid4().hex[:6]}", f"kb-{uuid.uuid4().hex[:6]}"
    local = await rag.add(tenant, {"knowledge_base_id": local_kb, "content": "Owls hunt at night."})
    assert local["status"] == "ready"
    passage = "Beavers build dams across streams."
    question = "Which animal builds dams?"
    aligned = np.zeros(1536, dtype=np.float32)
    aligned[3] = 1.0
    fake.register(passage, aligned)
    fake.register(question, aligned)

    openai_settings = rag_settings.model_copy(update={
        "embedding_backend": "openai", "openai_api_key": SecretStr("sk-test"),
        "openai_base_url": url,
    })  # fmt: skip
    app = create_app(openai_settings)
    async with running_app(app) as http:
        other = RagApp(app=app, http=http, settings=openai_settings)
        done = await other.add(tenant, {"knowledge_base_id": openai_kb, "content": passage})
        assert done["status"] == "ready", done
        embedded = [r.body for r in fake.requests if r.path.endswith("/embeddings")]
        assert any(passage in body["input"] for body in embedded)

        found = await other.search(tenant, {"query": question, "knowledge_base_ids": [openai_kb],
                                            "mode": "vector"})  # fmt: skip
        assert found.status_code == 200, found.text
        best = found.json()["passages"][0]
        assert best["text"] == passage
        assert best["score"] == pytest.approx(1.0, abs=1e-4)
        # The local knowledge base is still embedded (documents and queries) by MiniLM.
        owls = await other.add(tenant, {"knowledge_base_id": local_kb,
                                        "content": "Owls sleep by day."})  # fmt: skip
        assert owls["status"] == "ready"
        calls = len(fake.requests)
        asked = {"query": "when do owls hunt", "knowledge_base_ids": [local_kb], "mode": "vector"}
        night = await other.search(tenant, asked)
        assert night.json()["passages"][0]["text"] == "Owls hunt at night."
        assert len(fake.requests) == calls  # no OpenAI call for the local one

        both = {"query": "animals", "knowledge_base_ids": [local_kb, openai_kb]}
        mixed = await other.search(tenant, both)
        assert mixed.status_code == 422
        assert mixed.json()["type"].endswith("knowledge-bases-mixed-models")


async def test_openai_without_a_key_is_not_configured(rag_settings: RagEngineSettings) -> None:
    settings = rag_settings.model_copy(update={"embedding_backend": "openai"})
    app = create_app(settings)
    async with running_app(app) as http:
        rag = RagApp(app=app, http=http, settings=settings)
        answer = await rag.create(new_tenant(), {"knowledge_base_id": "kb", "content": "x"})
        assert answer.status_code == 501
        assert answer.json()["type"].endswith("not-configured")

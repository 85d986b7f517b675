"""Embeddings: the local MiniLM int8 model (meaning: close texts are close, padding does not
change a vector, long texts are cut, never refused) and the OpenAI adapter through the official
SDK against the local fake of OpenAI's API (order kept across batches, usage summed, dimensions
asked for, retries on 429, a bad key refused)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest

from v100.ai.embeddings import (
    EmbeddingRefused,
    EmbeddingUnavailable,
    LocalMiniLM,
    OpenAIEmbedder,
)
from v100.kit.testing.fakes.openai import OpenAIFake
from v100.kit.testing.servers import serving


@pytest.fixture(scope="module")
def minilm() -> LocalMiniLM:
    return LocalMiniLM()


async def test_close_meanings_are_close_and_vectors_are_unit_length(minilm: LocalMiniLM) -> None:
    texts = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The girl is carrying a baby.",
        "How do I reset my password?",
        "I forgot my login and need a new password.",
    ]
    result = await minilm.embed(texts)
    vectors = result.vectors
    assert vectors.shape == (5, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.6 > similarity[0, 2]
    assert similarity[3, 4] > 0.5 > max(similarity[3, 0], similarity[3, 2])
    # [CLS] and [SEP] are counted with the words.
    assert result.tokens >= sum(len(t.split()) + 2 for t in texts)


async def test_a_vector_does_not_depend_on_its_batch(minilm: LocalMiniLM) -> None:
    alone = await minilm.embed(["Short text."])
    mixed = await minilm.embed(
        ["A much longer text that pads the batch well past the short one. " * 5, "Short text."]
    )
    np.testing.assert_allclose(mixed.vectors[1], alone.vectors[0], atol=1e-5)


async def test_texts_past_the_models_length_are_cut_not_refused(minilm: LocalMiniLM) -> None:
    long = "word " * 2000
    result = await minilm.embed([long, long + "tail that is past the cut"])
    assert result.tokens == 2 * minilm.max_tokens
    np.testing.assert_allclose(result.vectors[0], result.vectors[1], atol=1e-6)
    assert (await minilm.embed([])).vectors.shape == (0, 384)


@pytest.fixture
async def openai_fake() -> AsyncIterator[tuple[OpenAIFake, str]]:
    fake = OpenAIFake(api_key="sk-test")
    async with serving(fake.app, lifespan="off") as url:
        yield fake, url + "/v1"


async def test_openai_embeddings_keep_order_across_batches(
    openai_fake: tuple[OpenAIFake, str],
) -> None:
    fake, url = openai_fake
    known = np.zeros(1536, dtype=np.float32)
    known[7] = 3.0
    fake.register("the known one", known)
    embedder = OpenAIEmbedder("sk-test", base_url=url, batch_size=2)
    texts = ["alpha", "the known one", "gamma", "delta", "alpha"]
    result = await embedder.embed(texts)
    await embedder.aclose()
    assert embedder.model.id == "openai/text-embedding-3-small"
    assert result.vectors.shape == (5, 1536)
    assert result.vectors[1][7] == pytest.approx(1.0)
    np.testing.assert_allclose(result.vectors[0], result.vectors[4])
    assert abs(float(result.vectors[0] @ result.vectors[2])) < 0.2
    assert len(fake.requests) == 3  # 2 + 2 + 1
    assert all(r.authorization == "Bearer sk-test" for r in fake.requests)
    assert result.tokens == 7  # one cl100k token a word


async def test_openai_dimensions_are_asked_for_and_recorded(
    openai_fake: tuple[OpenAIFake, str],
) -> None:
    fake, url = openai_fake
    embedder = OpenAIEmbedder("sk-test", base_url=url, dimensions=256)
    result = await embedder.embed(["alpha"])
    await embedder.aclose()
    assert embedder.model.id == "openai/text-embedding-3-small@256"
    assert result.vectors.shape == (1, 256)
    assert fake.requests[-1].body["dimensions"] == 256
    with pytest.raises(ValueError, match="at most 1536"):
        OpenAIEmbedder("sk-test", dimensions=4096)
    with pytest.raises(ValueError, match="unknown"):
        OpenAIEmbedder("sk-test", model="text-embedding-9")


async def test_openai_failures_are_retried_then_told_apart(
    openai_fake: tuple[OpenAIFake, str],
) -> None:
    fake, url = openai_fake
    embedder = OpenAIEmbedder("sk-test", base_url=url, max_retries=1)
    fake.fail_next(1, status=429)
    assert (await embedder.embed(["alpha"])).vectors.shape == (1, 1536)
    fake.fail_next(2, status=503)
    with pytest.raises(EmbeddingUnavailable):
        await embedder.embed(["alpha"])
    await embedder.aclose()
    wrong = OpenAIEmbedder("sk-wrong", base_url=url, max_retries=0)
    with pytest.raises(EmbeddingRefused, match="401"):
        await wrong.embed(["alpha"])
    await wrong.aclose()

"""OpenAI's embeddings (``text-embedding-3-small`` by default) through the official ``openai``
SDK's async client: ``POST {base_url}/embeddings``, at most 2,048 inputs a request, each vector
returned with its index. The SDK's own retries (with backoff) handle 429 and 5xx; what still
fails is ``EmbeddingUnavailable`` (try later) or ``EmbeddingRefused`` (key or input)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from v100.ai.embeddings._interface import (
    EmbeddingModel,
    EmbeddingRefused,
    Embeddings,
    EmbeddingUnavailable,
    Vectors,
    normalised,
)

__all__ = ["OPENAI_EMBEDDING_MODELS", "OpenAIEmbedder"]

# Native dimensions of the models OpenAI documents.
OPENAI_EMBEDDING_MODELS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
# OpenAI's limits: inputs per request, and tokens per input.
_MAX_INPUTS = 2048
_MAX_TOKENS = 8191


class OpenAIEmbedder:
    max_tokens = _MAX_TOKENS

    def __init__(
        self,
        api_key: str,
        *,
        model: str = "text-embedding-3-small",
        dimensions: int | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        batch_size: int = 256,
    ) -> None:
        import openai

        if model not in OPENAI_EMBEDDING_MODELS:
            raise ValueError(f"unknown OpenAI embedding model {model!r}")
        native = OPENAI_EMBEDDING_MODELS[model]
        if dimensions is not None and not (0 < dimensions <= native):
            raise ValueError(f"{model} gives at most {native} dimensions")
        self._name = model
        self._dimensions = dimensions
        suffix = "" if dimensions is None else f"@{dimensions}"
        self.model = EmbeddingModel(id=f"openai/{model}{suffix}", dimension=dimensions or native)
        self._batch = max(1, min(batch_size, _MAX_INPUTS))
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        import openai

        vectors: Vectors = np.zeros((len(texts), self.model.dimension), dtype=np.float32)
        tokens = 0
        for first in range(0, len(texts), self._batch):
            batch = list(texts[first : first + self._batch])
            try:
                answer = await self._client.embeddings.create(
                    model=self._name,
                    input=batch,
                    encoding_format="float",
                    dimensions=openai.omit if self._dimensions is None else self._dimensions,
                )
            except (openai.APIConnectionError, openai.RateLimitError) as exc:
                raise EmbeddingUnavailable(f"OpenAI embeddings: {exc}") from exc
            except openai.APIStatusError as exc:
                if exc.status_code >= 500:
                    raise EmbeddingUnavailable(f"OpenAI embeddings: {exc.status_code}") from exc
                raise EmbeddingRefused(
                    f"OpenAI refused the embeddings ({exc.status_code}): {exc.message}"
                ) from exc
            if len(answer.data) != len(batch):
                raise EmbeddingUnavailable(
                    f"OpenAI answered {len(answer.data)} vectors for {len(batch)} inputs"
                )
            for item in answer.data:
                row = np.asarray(item.embedding, dtype=np.float32)
                if row.shape != (self.model.dimension,) or not 0 <= item.index < len(batch):
                    raise EmbeddingUnavailable("OpenAI answered a vector of the wrong shape")
                vectors[first + item.index] = row
            tokens += answer.usage.prompt_tokens
        return Embeddings(vectors=normalised(vectors), tokens=tokens)

    async def aclose(self) -> None:
        await self._client.close()

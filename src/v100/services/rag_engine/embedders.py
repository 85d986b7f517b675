"""The embedding models a knowledge base can use, by model id (``v100.ai.embeddings``): the
local MiniLM (always there) and OpenAI's, when a key is configured. Each embedder is made once
per process on first use and closed with the app. A knowledge base records the id of the model
it was created with; its documents and its queries are embedded by that model only."""

from __future__ import annotations

import threading

from v100.ai.embeddings import Embedder, EmbeddingModel, LocalMiniLM, OpenAIEmbedder
from v100.kit.errors import NotConfigured
from v100.services.rag_engine.settings import RagEngineSettings

__all__ = ["EMBEDDERS", "EmbedderRegistry"]


class EmbedderRegistry:
    def __init__(self) -> None:
        self._made: dict[str, Embedder] = {}
        self._lock = threading.Lock()

    def for_new_collection(self, settings: RagEngineSettings) -> EmbeddingModel:
        """The model a new knowledge base gets (``embedding_backend``); 501 when it is OpenAI
        and no key is configured."""
        model_id = (
            LocalMiniLM.model.id if settings.embedding_backend == "local" else _openai_id(settings)
        )
        embedder = None if model_id is None else self.get(model_id, settings)
        if embedder is None:
            raise NotConfigured(
                "OpenAI embeddings are chosen (V100_RAG_ENGINE_EMBEDDING_BACKEND=openai) but no "
                "key is configured (V100_RAG_ENGINE_OPENAI_API_KEY)."
            )
        return embedder.model

    def get(self, model_id: str, settings: RagEngineSettings) -> Embedder | None:
        """The embedder of ``model_id``; None when this process cannot run it (OpenAI's
        without a key, or another OpenAI model than the configured one)."""
        with self._lock:
            if model_id in self._made:
                return self._made[model_id]
        if model_id == LocalMiniLM.model.id:
            return self._keep(LocalMiniLM())
        if model_id == _openai_id(settings) and settings.openai_api_key is not None:
            return self._keep(
                OpenAIEmbedder(
                    settings.openai_api_key.get_secret_value(),
                    model=settings.openai_embedding_model,
                    dimensions=settings.openai_embedding_dimensions,
                    base_url=settings.openai_base_url,
                )
            )
        return None

    def _keep(self, embedder: Embedder) -> Embedder:
        with self._lock:
            return self._made.setdefault(embedder.model.id, embedder)

    async def aclose(self) -> None:
        with self._lock:
            made, self._made = list(self._made.values()), {}
        for embedder in made:
            await embedder.aclose()


def _openai_id(settings: RagEngineSettings) -> str | None:
    """The id ``OpenAIEmbedder`` gives the configured model (None: no key)."""
    if settings.openai_api_key is None:
        return None
    dimensions = settings.openai_embedding_dimensions
    suffix = "" if dimensions is None else f"@{dimensions}"
    return f"openai/{settings.openai_embedding_model}{suffix}"


EMBEDDERS = EmbedderRegistry()

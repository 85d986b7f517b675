"""Text embeddings behind one interface (``Embedder``): the local all-MiniLM-L6-v2 int8 ONNX model
(``LocalMiniLM``, the default: no vendor key) and OpenAI's ``text-embedding-3-small``
(``OpenAIEmbedder``, through the official SDK). Vectors are float32 and L2-normalised, so a dot
product is the cosine; ``EmbeddingModel`` names the model and its dimension, which a knowledge
base records so that vectors of two models are never mixed."""

from v100.ai.embeddings._interface import (
    Embedder,
    EmbeddingError,
    EmbeddingModel,
    EmbeddingRefused,
    Embeddings,
    EmbeddingUnavailable,
)
from v100.ai.embeddings._minilm import LocalMiniLM
from v100.ai.embeddings._openai import OPENAI_EMBEDDING_MODELS, OpenAIEmbedder

__all__ = [
    "OPENAI_EMBEDDING_MODELS",
    "Embedder",
    "EmbeddingError",
    "EmbeddingModel",
    "EmbeddingRefused",
    "EmbeddingUnavailable",
    "Embeddings",
    "LocalMiniLM",
    "OpenAIEmbedder",
]

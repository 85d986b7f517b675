"""What every embedding backend gives: ``Embeddings`` (one L2-normalised float32 row per text,
and the tokens the backend counted, which are billed) for a list of texts, without blocking the
event loop; and the errors a caller tells apart (retry later, or the input is refused)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "Embedder",
    "EmbeddingError",
    "EmbeddingModel",
    "EmbeddingRefused",
    "EmbeddingUnavailable",
    "Embeddings",
    "normalised",
]

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class EmbeddingModel:
    """``id`` names the model and its revision (``minilm-l6-v2-int8``,
    ``openai/text-embedding-3-small``); vectors of different ids never share an index."""

    id: str
    dimension: int


@dataclass(frozen=True, slots=True)
class Embeddings:
    vectors: Vectors  # (len(texts), dimension), every row of unit length
    tokens: int  # what the backend counted: the usage that is billed


class Embedder(Protocol):
    model: EmbeddingModel
    # The longest input the model reads, in its own tokens; longer texts are cut by the model
    # (local) or refused by the vendor, so callers chunk below it.
    max_tokens: int

    async def embed(self, texts: Sequence[str]) -> Embeddings: ...

    async def aclose(self) -> None: ...


class EmbeddingError(Exception):
    """The backend could not embed the texts."""


class EmbeddingUnavailable(EmbeddingError):
    """A passing failure (the vendor is down, rate-limited or slow): worth a retry later."""


class EmbeddingRefused(EmbeddingError):
    """The vendor refused the request (bad key, bad input): a retry gives the same answer."""


def normalised(vectors: Vectors) -> Vectors:
    """Rows scaled to unit length; an all-zero row stays zero."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: Vectors = np.zeros_like(vectors, dtype=np.float32)
    np.divide(vectors, norms, out=out, where=norms > 0)
    return out

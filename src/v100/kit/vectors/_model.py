"""What goes into a vector store and what comes out: ``VectorEntry`` (one passage with its
vector), ``VectorScope`` (whose rows a search may see: one tenant, some collections of one
dimension, equality filters on attributes) and ``VectorHit`` (a ranked passage)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["AttributeValue", "VectorEntry", "VectorHit", "VectorScope"]

AttributeValue = str | int | float | bool
# Attribute names a filter may use: they go into JSON paths, so no quotes or brackets.
_ATTRIBUTE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


@dataclass(frozen=True, slots=True)
class VectorEntry:
    document_id: str
    position: int
    text: str
    vector: npt.NDArray[np.float32]  # one row of the collection's dimension, unit length
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VectorScope:
    """The rows a search looks at: ``tenant_id``'s, in ``collection_ids`` (all of vectors of
    ``dimension``, from one model), whose attributes equal every pair of ``where``."""

    tenant_id: str
    collection_ids: Sequence[str]
    dimension: int
    where: Mapping[str, AttributeValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.tenant_id:
            raise ValueError("a scope needs its tenant")
        for name, value in self.where.items():
            if not _ATTRIBUTE.match(name):
                raise ValueError(f"an attribute filter names a key of [A-Za-z0-9_-]: {name!r}")
            if not isinstance(value, AttributeValue):
                raise ValueError(f"an attribute filter compares with a scalar, not {value!r}")


@dataclass(frozen=True, slots=True)
class VectorHit:
    """A passage found. ``score``: cosine similarity (vector), the backend's text rank
    (full text: ``ts_rank_cd`` or ``-bm25``) or the fused reciprocal-rank score (hybrid);
    higher is better. ``vector_rank`` / ``fulltext_rank``: its place (1, 2, ...) in each list,
    None when that list did not find it."""

    id: int
    collection_id: str
    document_id: str
    position: int
    text: str
    attributes: Mapping[str, Any]
    score: float
    vector_rank: int | None = None
    fulltext_rank: int | None = None

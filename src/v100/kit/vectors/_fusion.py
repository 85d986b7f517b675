"""Reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009): a passage's fused score is
the sum over the lists that found it of ``1 / (k + rank)``. It needs no calibration between a
cosine similarity and a text rank, which are on unrelated scales."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from v100.kit.vectors._model import VectorHit

__all__ = ["RRF_K", "reciprocal_rank_fusion"]

# The constant of the paper: damps the weight of the very first ranks.
RRF_K = 60


def reciprocal_rank_fusion(
    by_vector: Sequence[VectorHit], by_text: Sequence[VectorHit], k: int, *, rrf_k: int = RRF_K
) -> list[VectorHit]:
    """The ``k`` best of both lists, fused; ties go to the better vector rank."""
    fused: dict[int, VectorHit] = {}
    for rank, hit in enumerate(by_vector, start=1):
        fused[hit.id] = dataclasses.replace(hit, score=1 / (rrf_k + rank), vector_rank=rank)
    for rank, hit in enumerate(by_text, start=1):
        seen = fused.get(hit.id)
        if seen is None:
            fused[hit.id] = dataclasses.replace(hit, score=1 / (rrf_k + rank), fulltext_rank=rank)
        else:
            score = seen.score + 1 / (rrf_k + rank)
            fused[hit.id] = dataclasses.replace(seen, score=score, fulltext_rank=rank)
    ordered = sorted(
        fused.values(),
        key=lambda hit: (-hit.score, hit.vector_rank or len(by_vector) + 1, hit.id),
    )
    return ordered[:k]

"""Optional re-ranking of the retrieved candidates (``"rerank": true`` on ``/v1/search`` and
``/v1/rag``): maximal marginal relevance (MMR, Carbonell and Goldstein, 1998) over the
passages' own stored embeddings, so it costs no model call. What it is, honestly: not a
cross-encoder (no model reads the question and the passage together). Each candidate's
relevance is its cosine to the question (the knowledge base's model) plus a small nudge for
the share of the question's words it holds (0.1, as the extractive answer does); passages are
then taken one at a time by ``lambda * relevance - (1 - lambda) * (its highest cosine to a
passage already taken)``, which pushes down near-copies (overlapping chunks, the same text in
two documents) so the k passages say more different things. What it does to retrieval quality
is measured in bench/rag_retrieval.py (docs/rag-engine.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from v100.kit.vectors import VectorHit, query_terms

__all__ = ["TERM_NUDGE", "mmr"]

# What sharing every word of the question adds to a cosine (MiniLM: 0.4 to 0.8 for a passage
# that answers, below 0.2 for an unrelated one).
TERM_NUDGE = 0.1
Vector = npt.NDArray[np.float32]


def mmr(
    query: str,
    query_vector: Vector,
    candidates: Sequence[VectorHit],
    vectors: Mapping[int, Vector],
    k: int,
    balance: float,
) -> list[tuple[VectorHit, float]]:
    """The ``k`` candidates in MMR order, each with its relevance (cosine plus the nudge).
    A candidate without a stored vector keeps its place after the others (not expected)."""
    usable = [hit for hit in candidates if hit.id in vectors]
    if not usable:
        return [(hit, 0.0) for hit in candidates[:k]]
    matrix = np.stack([vectors[hit.id] for hit in usable])
    asked = set(query_terms(query))
    shared = np.array(
        [len(asked & set(query_terms(hit.text))) / len(asked) if asked else 0.0 for hit in usable]
    )
    relevance = matrix @ query_vector + TERM_NUDGE * shared
    similar = matrix @ matrix.T
    taken: list[int] = []
    left = list(range(len(usable)))
    while left and len(taken) < k:
        redundancy = similar[np.ix_(left, taken)].max(axis=1) if taken else np.zeros(len(left))
        scores = balance * relevance[left] - (1 - balance) * redundancy
        best = left[int(np.argmax(scores))]
        taken.append(best)
        left.remove(best)
    ordered = [(usable[i], float(relevance[i])) for i in taken]
    missing = [(hit, 0.0) for hit in candidates if hit.id not in vectors]
    return (ordered + missing)[:k]

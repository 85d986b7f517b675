"""MMR re-ranking: relevance is the cosine to the question plus a nudge for shared words; a
near-copy of a passage already taken goes down, below a less relevant passage that says
something else; the balance 1.0 is relevance alone; candidates without a stored vector keep
their place after the others."""

from __future__ import annotations

import numpy as np
import pytest

from v100.kit.vectors import VectorHit
from v100.services.rag_engine.reranking import TERM_NUDGE, mmr


def hit(number: int, text: str) -> VectorHit:
    return VectorHit(number, "c", f"d{number}", 0, text, {}, 0.0)


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


QUERY = unit(1, 0, 0)
CANDIDATES = [hit(1, "refunds in thirty days"), hit(2, "refunds in thirty days again"),
              hit(3, "parcels leave on weekdays")]  # fmt: skip
VECTORS = {1: unit(0.9, 0.1, 0), 2: unit(0.9, 0.11, 0), 3: unit(0.6, 0, 0.8)}


def test_a_near_copy_goes_below_a_passage_that_says_something_else() -> None:
    ranked = mmr("refunds", QUERY, CANDIDATES, VECTORS, 3, balance=0.3)
    assert [h.id for h, _ in ranked] == [1, 3, 2]
    relevance = {h.id: score for h, score in ranked}
    assert relevance[1] == pytest.approx(float(VECTORS[1] @ QUERY) + TERM_NUDGE)
    assert relevance[3] == pytest.approx(float(VECTORS[3] @ QUERY))


def test_balance_one_is_relevance_alone() -> None:
    ranked = mmr("refunds", QUERY, CANDIDATES, VECTORS, 2, balance=1.0)
    assert [h.id for h, _ in ranked] == [1, 2]


def test_candidates_without_a_vector_come_last() -> None:
    ranked = mmr("refunds", QUERY, CANDIDATES, {3: VECTORS[3]}, 3, balance=0.7)
    assert [h.id for h, _ in ranked] == [3, 1, 2]

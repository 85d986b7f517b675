"""Answers to a question from the passages retrieved for it, with numbered citations, when no LLM
is configured (an LLM's answers are ``synthesis``'s). ``ExtractiveWriter`` answers honestly: it
quotes the sentences of the passages that best match the question (by the knowledge base's own
embeddings, with a nudge for sharing the question's words), each followed by the number of the
passage it comes from, and says that no LLM is configured. It never writes a word that is not in
a passage; when no sentence is close enough to the question, there is no answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from v100.ai.chunking import split_sentences
from v100.ai.embeddings import Embedder
from v100.kit.vectors import query_terms
from v100.services.rag_engine.retrieval import Found

__all__ = ["NO_LLM_NOTE", "Citation", "ExtractiveWriter", "WrittenAnswer"]

NO_LLM_NOTE = (
    "No LLM is configured: the answer quotes the passages that best match the question, "
    "word for word, with the number of each passage."
)


@dataclass(frozen=True, slots=True)
class Citation:
    number: int  # the passage's number (1, 2, ...) in the answer's passages
    quote: str


@dataclass(frozen=True, slots=True)
class WrittenAnswer:
    text: str | None  # None: nothing in the passages answers the question
    citations: list[Citation]
    llm: str | None  # always None: the text is quoted
    note: str


class ExtractiveWriter:
    """Quotes up to ``max_quotes`` sentences whose cosine to the question is at least
    ``min_similarity`` (all-MiniLM-L6-v2: sentences that answer a question score 0.4 to 0.8,
    unrelated ones below 0.2)."""

    def __init__(
        self, embedder: Embedder, *, max_quotes: int = 3, min_similarity: float = 0.3
    ) -> None:
        self.embedder = embedder
        self.max_quotes = max_quotes
        self.min_similarity = min_similarity

    async def write(self, question: str, passages: Sequence[Found]) -> WrittenAnswer:
        candidates: list[tuple[int, str]] = []
        seen: set[str] = set()
        for number, found in enumerate(passages, start=1):
            for sentence in split_sentences(found.hit.text):
                key = " ".join(sentence.lower().split())
                # Overlapping chunks repeat sentences: each is quoted once, from the first
                # (best ranked) passage that holds it.
                if key not in seen and len(key) > 1:
                    seen.add(key)
                    candidates.append((number, " ".join(sentence.split())))
        if not candidates:
            return WrittenAnswer(None, [], None, NO_LLM_NOTE)
        embedded = await self.embedder.embed([question] + [text for _, text in candidates])
        similarity = embedded.vectors[1:] @ embedded.vectors[0]
        asked = set(query_terms(question))
        scores = [
            float(similarity[i]) + 0.1 * _shared(asked, candidates[i][1])
            for i in range(len(candidates))
        ]
        best = sorted(range(len(candidates)), key=lambda i: -scores[i])[: self.max_quotes]
        chosen = [i for i in best if similarity[i] >= self.min_similarity]
        if not chosen:
            return WrittenAnswer(None, [], None, NO_LLM_NOTE)
        citations = [Citation(candidates[i][0], candidates[i][1]) for i in chosen]
        text = "\n".join(f"\u201c{c.quote}\u201d [{c.number}]" for c in citations)
        return WrittenAnswer(text, citations, None, NO_LLM_NOTE)


def _shared(asked: set[str], sentence: str) -> float:
    if not asked:
        return 0.0
    return len(asked & set(query_terms(sentence))) / len(asked)

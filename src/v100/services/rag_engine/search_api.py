"""rag_engine's retrieval endpoints: ``POST /v1/search`` (ranked passages of the tenant's
knowledge bases by vector, full text or both) and ``POST /v1/rag`` (a question answered from
the top passages with numbered citations; quoted sentences while no LLM is configured). Thin:
parse, call the ``Searcher`` and the answer writer, shape."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from v100.kit.auth import Principal
from v100.kit.http import VENDOR_NOT_CONFIGURED, Authorized, SessionDep
from v100.services.rag_engine.answers import NO_LLM_NOTE, ExtractiveWriter
from v100.services.rag_engine.deps import SearcherDep
from v100.services.rag_engine.retrieval import Found
from v100.services.rag_engine.schemas import (
    Citation,
    Passage,
    RagAnswer,
    RagRequest,
    SearchRequest,
    SearchResults,
)

__all__ = ["search_router"]

RagRead = Annotated[Principal, Depends(Authorized("rag:read", "service:rag"))]

search_router = APIRouter(tags=["search"])


def _passages(found: list[Found]) -> list[Passage]:
    return [_passage(number, item) for number, item in enumerate(found, start=1)]


def _passage(number: int, item: Found) -> Passage:
    return Passage(
        number=number, document_id=item.hit.document_id,
        knowledge_base_id=item.knowledge_base_id, document_title=item.document_title,
        position=item.hit.position, heading_path=item.headings, page=item.page,
        text=item.hit.text, metadata=item.metadata, score=item.hit.score,
        vector_rank=item.hit.vector_rank, fulltext_rank=item.hit.fulltext_rank,
    )  # fmt: skip


def _citation(passage: Passage, quote: str) -> Citation:
    return Citation(
        number=passage.number, document_id=passage.document_id,
        knowledge_base_id=passage.knowledge_base_id, position=passage.position, quote=quote,
    )  # fmt: skip


@search_router.post("/v1/search", response_model=SearchResults, responses=VENDOR_NOT_CONFIGURED)
async def search(
    body: SearchRequest, principal: RagRead, searcher: SearcherDep, session: SessionDep
) -> SearchResults:
    """Passages of the tenant's knowledge bases ranked by vector, full text or both (hybrid)."""
    retrieval = await searcher.search(
        session, principal.tenant_id, query=body.query,
        knowledge_base_ids=body.knowledge_base_ids, k=body.k, mode=body.mode, where=body.filter,
    )  # fmt: skip
    return SearchResults(mode=body.mode, passages=_passages(retrieval.found))


@search_router.post("/v1/rag", response_model=RagAnswer, responses=VENDOR_NOT_CONFIGURED)
async def answer(
    body: RagRequest, principal: RagRead, searcher: SearcherDep, session: SessionDep
) -> RagAnswer:
    """Answer a question from the knowledge bases, citing the passages used by number."""
    retrieval = await searcher.search(
        session, principal.tenant_id, query=body.question,
        knowledge_base_ids=body.knowledge_base_ids, k=body.k, mode="hybrid", where=body.filter,
    )  # fmt: skip
    passages = _passages(retrieval.found)
    if retrieval.embedder is None:
        return RagAnswer(question=body.question, answer=None, citations=[], passages=[],
                         llm=None, note=NO_LLM_NOTE)  # fmt: skip
    # The LLM synthesis (v100.ai.llm) plugs in here as another AnswerWriter.
    written = await ExtractiveWriter(retrieval.embedder).write(body.question, retrieval.found)
    citations = [_citation(passages[c.number - 1], c.quote) for c in written.citations]
    return RagAnswer(
        question=body.question, answer=written.text, citations=citations, passages=passages,
        llm=written.llm, note=written.note,
    )  # fmt: skip

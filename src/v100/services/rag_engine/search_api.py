"""rag_engine's retrieval endpoints: ``POST /v1/search`` (ranked passages of the tenant's
knowledge bases by vector, full text or both) and ``POST /v1/rag`` (a question answered from
the top passages with numbered citations: written by the configured LLM, else quoted
sentences), whole or as Server-Sent Events (``"stream": true``). Thin: parse, call the
``Searcher`` and the answer's writer, shape."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

from v100.kit.auth import Principal
from v100.kit.errors import ProblemError
from v100.kit.http import VENDOR_NOT_CONFIGURED, Authorized, SessionDep
from v100.kit.observability import get_logger
from v100.services.rag_engine.answers import NO_LLM_NOTE, ExtractiveWriter
from v100.services.rag_engine.deps import SearcherDep, SynthesizerDep
from v100.services.rag_engine.retrieval import Found
from v100.services.rag_engine.schemas import (
    Citation,
    Passage,
    RagAnswer,
    RagRequest,
    SearchRequest,
    SearchResults,
)
from v100.services.rag_engine.synthesis import Answering, Synthesizer, Written

__all__ = ["search_router"]

RagRead = Annotated[Principal, Depends(Authorized("rag:read", "service:rag"))]
_log = get_logger("v100.rag_engine.search_api")

search_router = APIRouter(tags=["search"])

NOTHING_FOUND_NOTE = "Nothing in the knowledge bases matches the question: there is no answer."
_ANSWERS: dict[int | str, dict[str, Any]] = {
    **VENDOR_NOT_CONFIGURED,
    200: {
        "content": {
            "text/event-stream": {
                "schema": {"type": "string", "description": "passages, delta, citations, done"}
            }
        }
    },
    **{
        status: {"description": what}
        for status, what in {
            402: "Not enough credits for the answer",
            403: "Billing refused the hold",
            502: "The model provider refused the request",
            503: "The model provider or billing is unavailable",
        }.items()
    },
}


def _passages(found: list[Found]) -> list[Passage]:
    return [_passage(number, item) for number, item in enumerate(found, start=1)]


def _passage(number: int, item: Found) -> Passage:
    return Passage(
        number=number, document_id=item.hit.document_id,
        knowledge_base_id=item.knowledge_base_id, document_title=item.document_title,
        position=item.hit.position, heading_path=item.headings, page=item.page,
        text=item.hit.text, metadata=item.metadata, start_seconds=item.start_seconds,
        end_seconds=item.end_seconds, score=item.hit.score, vector_rank=item.hit.vector_rank,
        fulltext_rank=item.hit.fulltext_rank, rerank_score=item.rerank_score,
    )  # fmt: skip


def _citation(passage: Passage, quote: str | None) -> Citation:
    return Citation(
        number=passage.number, document_id=passage.document_id,
        knowledge_base_id=passage.knowledge_base_id, document_title=passage.document_title,
        position=passage.position, heading_path=passage.heading_path, page=passage.page,
        start_seconds=passage.start_seconds, end_seconds=passage.end_seconds, quote=quote,
    )  # fmt: skip


def _llm_note(written: Written) -> str:
    note = (
        f"Written by {written.model} from the passages; [n] cites passage n. Check the "
        "passages: a model can misread them."
    )
    if written.invented:
        numbers = ", ".join(str(n) for n in written.invented)
        note += f" The model cited passages that do not exist ({numbers}): those were removed."
    return note


@search_router.post("/v1/search", response_model=SearchResults, responses=VENDOR_NOT_CONFIGURED)
async def search(
    body: SearchRequest, principal: RagRead, searcher: SearcherDep, session: SessionDep
) -> SearchResults:
    """Passages of the tenant's knowledge bases ranked by vector, full text or both (hybrid)."""
    retrieval = await searcher.search(
        session, principal.tenant_id, query=body.query,
        knowledge_base_ids=body.knowledge_base_ids, k=body.k, mode=body.mode, where=body.filter,
        rerank=body.rerank,
    )  # fmt: skip
    return SearchResults(mode=body.mode, passages=_passages(retrieval.found))


@search_router.post("/v1/rag", response_model=RagAnswer, responses=_ANSWERS)
async def answer(
    body: RagRequest,
    principal: RagRead,
    searcher: SearcherDep,
    synthesizer: SynthesizerDep,
    session: SessionDep,
) -> Response | RagAnswer:
    """Answer a question from the knowledge bases, citing the passages used by number: the
    configured LLM writes it, else the best matching sentences are quoted. ``"stream": true``
    answers Server-Sent Events."""
    retrieval = await searcher.search(
        session, principal.tenant_id, query=body.question,
        knowledge_base_ids=body.knowledge_base_ids, k=body.k, mode="hybrid", where=body.filter,
        rerank=body.rerank,
    )  # fmt: skip
    await session.commit()  # the read is done: no transaction stays open while the LLM writes
    passages = _passages(retrieval.found)
    if synthesizer is not None and retrieval.found:
        answering = await synthesizer.begin(principal.tenant_id, body.question, retrieval.found)
        if body.stream:
            return _sse(_streamed(synthesizer, answering, passages))
        return await _collected(body.question, synthesizer, answering, passages)
    if retrieval.embedder is None or not retrieval.found:
        note = NOTHING_FOUND_NOTE if synthesizer else NO_LLM_NOTE
        whole = RagAnswer(question=body.question, answer=None, citations=[], passages=passages,
                          llm=None, note=note)  # fmt: skip
    else:
        written = await ExtractiveWriter(retrieval.embedder).write(body.question, retrieval.found)
        whole = RagAnswer(
            question=body.question, answer=written.text, passages=passages, llm=None,
            citations=[_citation(passages[c.number - 1], c.quote) for c in written.citations],
            note=written.note,
        )  # fmt: skip
    if body.stream:
        return _sse(_replayed(whole))
    return whole


async def _collected(
    question: str, synthesizer: Synthesizer, answering: Answering, passages: list[Passage]
) -> RagAnswer:
    written: Written | None = None
    async for part in synthesizer.stream(answering):
        if isinstance(part, Written):
            written = part
    assert written is not None
    return RagAnswer(
        question=question, answer=written.text or None, passages=passages, llm=written.model,
        citations=[_citation(passages[n - 1], None) for n in written.cited],
        note=_llm_note(written), invented_citations=written.invented,
        credits_charged=written.credits,
    )  # fmt: skip


def _event(name: str, data: BaseModel | dict[str, Any]) -> bytes:
    text = data.model_dump_json() if isinstance(data, BaseModel) else json.dumps(data)
    return f"event: {name}\ndata: {text}\n\n".encode()


def _dump(items: list[Passage] | list[Citation]) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json") for item in items]


async def _streamed(
    synthesizer: Synthesizer, answering: Answering, passages: list[Passage]
) -> AsyncIterator[bytes]:
    """passages, delta..., citations, done; or, when the provider fails mid-way, error."""
    yield _event("passages", {"passages": _dump(passages)})
    try:
        async for part in synthesizer.stream(answering):
            if isinstance(part, str):
                yield _event("delta", {"text": part})
                continue
            citations = [_citation(passages[n - 1], None) for n in part.cited]
            yield _event("citations", {"citations": _dump(citations),
                                       "invented_citations": part.invented})  # fmt: skip
            usage = None if part.usage is None else {
                "input_tokens": part.usage.input_tokens, "output_tokens": part.usage.output_tokens,
            }  # fmt: skip
            yield _event("done", {"llm": part.model, "note": _llm_note(part),
                                  "credits_charged": part.credits, "usage": usage})  # fmt: skip
    except ProblemError as exc:
        _log.info("answer failed mid-stream", error=exc.slug, detail=str(exc)[:200])
        yield _event("error", exc.to_problem())


async def _replayed(whole: RagAnswer) -> AsyncIterator[bytes]:
    """An extractive (or empty) answer as the same events: it is written at once."""
    yield _event("passages", {"passages": _dump(whole.passages)})
    if whole.answer:
        yield _event("delta", {"text": whole.answer})
    yield _event("citations", {"citations": _dump(whole.citations), "invented_citations": []})
    yield _event("done", {"llm": None, "note": whole.note, "credits_charged": None,
                          "usage": None})  # fmt: skip


def _sse(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        events, media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )  # fmt: skip

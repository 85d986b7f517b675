"""What an agent answers when no chat model can be called for it (neither the tenant nor the
operator set a key for its provider): a statement of that fact, naming the provider and what
would fix it, never a made-up answer. With knowledge bases attached, the statement comes after
an extractive answer from them: rag_engine's ``/v1/rag`` quotes the sentences of the best
passages that answer the question, word for word, each with the number of its passage, and the
sources are listed by number (document title, heading, page). When nothing in them answers
closely enough, it says that instead."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from v100.contracts.rag import Passage, RagClient, RagError
from v100.kit.errors import UpstreamUnavailable
from v100.kit.observability import get_logger

__all__ = ["ANSWERED_BY", "no_llm_answer", "no_llm_reply"]

# ``answered_by`` of such a reply (an LLM's is "llm").
ANSWERED_BY = "no-llm"
# The passages an extractive answer is taken from.
PASSAGES = 5
_log = get_logger("v100.ai_orchestration.no_llm")


def no_llm_answer(provider: str, model: str) -> str:
    return (
        f"No language model is configured for this agent, so no answer was generated: it uses "
        f"{provider} ({model}), and neither this tenant nor the installation has a {provider} "
        f"key. Set one at /v1/agents/providers, or ask the operator for a default key."
    )


async def no_llm_reply(
    rag: RagClient,
    tenant_id: str,
    provider: str,
    model: str,
    knowledge_base_ids: Sequence[str],
    question: str,
) -> str:
    """The statement, after the knowledge bases' extractive answer to ``question`` when the
    agent has any."""
    statement = no_llm_answer(provider, model)
    if not knowledge_base_ids or not question.strip():
        return statement
    try:
        found = await rag.answer(tenant_id, question.strip()[:2000], knowledge_base_ids, k=PASSAGES)
    except (RagError, UpstreamUnavailable, httpx.HTTPError) as exc:
        _log.warning("extractive answer failed", tenant=tenant_id, error=repr(exc))
        return statement + " The knowledge bases could not be searched just now."
    if found.answer is None:
        return (
            "Nothing in the agent's knowledge bases answers this closely enough to quote.\n\n"
            + statement
        )
    cited = {citation.number for citation in found.citations}
    sources = [_source(p) for p in found.passages if p.number in cited]
    return (
        "From the agent's knowledge bases (quoted word for word, no language model involved):\n\n"
        + found.answer
        + "\n\nSources:\n"
        + "\n".join(sources)
        + "\n\n"
        + statement
    )


def _source(passage: Passage) -> str:
    where = [passage.document_title or passage.document_id]
    if passage.heading_path:
        where.append(" > ".join(passage.heading_path))
    if passage.page is not None:
        where.append(f"page {passage.page}")
    return f"[{passage.number}] " + ", ".join(where)

"""What an agent answers when no chat model can be called for it (neither the tenant nor the
operator set a key for its provider): a statement of that fact, naming the provider and what
would fix it, never a made-up answer. With knowledge bases attached it says too that quoting
from them without a model is not available on this installation (rag_engine answers extractive
quotes once wired in; docs/ai-orchestration.md)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ANSWERED_BY", "no_llm_answer"]

# ``answered_by`` of such a reply (an LLM's is "llm").
ANSWERED_BY = "no-llm"


def no_llm_answer(provider: str, model: str, knowledge_base_ids: Sequence[str]) -> str:
    text = (
        f"No language model is configured for this agent, so no answer was generated: it uses "
        f"{provider} ({model}), and neither this tenant nor the installation has a {provider} "
        f"key. Set one at /v1/agents/providers, or ask the operator for a default key."
    )
    if knowledge_base_ids:
        text += (
            " Quoting passages from the agent's knowledge bases without a model is not "
            "available on this installation."
        )
    return text

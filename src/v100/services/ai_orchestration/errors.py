"""ai_orchestration's problems (RFC 9457 types under ``/problems/``, listed in
docs/ai-orchestration.md). ``/v1/chat/completions`` answers the same failures in OpenAI's error
shape instead (``openai_format.error_body``, ADR 0044).

    AgentNotFound            404  not-found
    AgentVersionNotFound     404  not-found
    ConversationNotFound     404  not-found
    KnowledgeBaseNotFound    404  not-found
    DocumentNotFound         404  not-found                (not a document of this knowledge base)
    UnknownKnowledgeBases    422  knowledge-base-not-found (an agent names one the tenant lacks)
    RagRefused               rag_engine's own status and type (a document it refused, ...)
    TestSetNotFound          404  not-found
    TestRunNotFound          404  not-found
    ProviderKeyNotFound      404  not-found
    ModelNotFound            404  model-not-found          (chat: no such agent or provider)
    TemperatureNotSupported  422  temperature-not-supported (Anthropic's current API refuses it)
    RunsNotComparable        409  test-runs-not-comparable (two runs of different test sets)
    (kit.fetch) UrlNotAllowed 400 url-not-allowed          (a base URL to a private address)
    TokensExhausted          429  tokens-per-minute         (a caller's or tenant's budget)
    ChatFailed               by code: 402 insufficient-credits, 503 billing-unavailable,
                             403 billing-refused, 502 provider-refused (the vendor refused
                             the key or the request), 503 provider-unavailable (the vendor
                             did not answer, or rate-limited us)

A failed test run shows ``insufficient-credits``, ``billing-refused``, ``billing-unavailable``,
``provider-refused``, ``provider-unavailable`` or ``test-run-failed`` in its ``error``."""

from __future__ import annotations

from v100.kit.errors import Conflict, NotFound, ProblemError, RateLimited, ValidationFailed

__all__ = [
    "AgentNotFound",
    "AgentVersionNotFound",
    "ChatFailed",
    "ConversationNotFound",
    "DocumentNotFound",
    "KnowledgeBaseNotFound",
    "ModelNotFound",
    "ProviderKeyNotFound",
    "RagRefused",
    "RunsNotComparable",
    "TemperatureNotSupported",
    "TestRunNotFound",
    "TestSetNotFound",
    "TokensExhausted",
    "UnknownKnowledgeBases",
]


class AgentNotFound(NotFound):
    title = "No such agent"


class AgentVersionNotFound(NotFound):
    title = "No such version of the agent"


class ConversationNotFound(NotFound):
    title = "No such conversation"


class KnowledgeBaseNotFound(NotFound):
    title = "No such knowledge base"


class DocumentNotFound(NotFound):
    title = "No such document in this knowledge base"


class UnknownKnowledgeBases(ValidationFailed):
    slug = "knowledge-base-not-found"
    title = "The agent names a knowledge base that does not exist"


class RagRefused(ProblemError):
    """rag_engine refused a call made for the tenant: its status and problem, passed on (a
    document too large, a format not read, ...)."""

    def __init__(self, status: int, problem: dict[str, object]) -> None:
        extra = {k: v for k, v in problem.items() if k in ("errors",)}
        super().__init__(str(problem.get("detail") or ""), extra=extra)
        self.status = status
        self.slug = str(problem.get("type", "/problems/internal")).rsplit("/", 1)[-1]
        self.title = str(problem.get("title") or "The document service refused the request")


class TestSetNotFound(NotFound):
    __test__ = False
    title = "No such test set"


class TestRunNotFound(NotFound):
    __test__ = False
    title = "No such test run"


class ProviderKeyNotFound(NotFound):
    title = "The tenant has no key for this provider"


class ModelNotFound(NotFound):
    slug = "model-not-found"
    title = "No such model"


class TemperatureNotSupported(ValidationFailed):
    slug = "temperature-not-supported"
    title = "This provider does not take a temperature"


class RunsNotComparable(Conflict):
    slug = "test-runs-not-comparable"
    title = "The two runs did not answer the same test set"


class TokensExhausted(RateLimited):
    slug = "tokens-per-minute"
    title = "Too many tokens this minute"


_STATUS = {
    "insufficient-credits": 402,
    "billing-refused": 403,
    "billing-unavailable": 503,
    "provider-refused": 502,
    "provider-unavailable": 503,
}


class ChatFailed(ProblemError):
    """A chat call that could not be paid for or answered: ``code`` is its slug (the
    ``HoldTerms`` failure and the provider's refusals)."""

    def __init__(
        self, code: str, detail: str, *, retry_after: float | None = None, status: int = 0
    ) -> None:
        headers = {} if retry_after is None else {"Retry-After": str(max(1, round(retry_after)))}
        super().__init__(detail, headers=headers)
        self.slug = code
        self.status = status or _STATUS.get(code, 502)
        self.title = {
            "insufficient-credits": "Not enough credits",
            "billing-refused": "Billing refused the hold",
            "billing-unavailable": "Billing is unavailable",
            "provider-refused": "The model provider refused the request",
            "provider-unavailable": "The model provider is unavailable",
        }.get(code, "The chat call failed")
        self.code = code
        self.retry_after = retry_after

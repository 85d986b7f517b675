"""The errors every provider raises, so a caller tells apart what to do without knowing the
vendor. The SDKs' own retries (with backoff, ``retry-after`` honoured) have run before any of
these is raised.

    LLMError
    ├── LLMUnavailable       a passing failure: retry later (``retry_after`` seconds when the
    │   │                    vendor said; connection lost, timeout, 5xx, overloaded, a cut stream)
    │   └── LLMRateLimited   the vendor's rate limit (429)
    └── LLMRefused           the same request gets the same answer: do not retry it as is
        ├── LLMAuthError     the key: wrong, without permission, or its account out of credit
        └── LLMBadRequest    the request: unknown model, bad parameter, malformed turns
            └── LLMContextTooLong   the conversation is past the model's context window
"""

from __future__ import annotations

__all__ = [
    "LLMAuthError",
    "LLMBadRequest",
    "LLMContextTooLong",
    "LLMError",
    "LLMRateLimited",
    "LLMRefused",
    "LLMUnavailable",
]


class LLMError(Exception):
    """A chat model could not answer. ``status`` is the vendor's HTTP status, when one came."""

    def __init__(self, message: str, *, provider: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status


class LLMUnavailable(LLMError):
    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.retry_after = retry_after


class LLMRateLimited(LLMUnavailable):
    pass


class LLMRefused(LLMError):
    pass


class LLMAuthError(LLMRefused):
    pass


class LLMBadRequest(LLMRefused):
    pass


class LLMContextTooLong(LLMBadRequest):
    pass

"""What the providers share about talking to vendors: how long a vendor asked us to wait, whether
a refusal is about the context window, and the checks every provider makes of a request before
it is sent (a tool choice naming no given tool, two tools of one name)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping, Sequence

from v100.ai.llm._messages import ChatOptions, Tool

__all__ = ["check_tools", "is_context_too_long", "retry_after"]

# How each vendor words a conversation past the context window (Anthropic, OpenAI and the
# servers that copy it, Gemini); matched in lower case.
_CONTEXT_WORDS = (
    "prompt is too long",
    "exceed context limit",
    "context_length_exceeded",
    "maximum context length",
    "input token count",
)


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), as the
    vendors' SDKs read them; None when absent or unreadable."""
    if not headers:
        return None
    try:
        return max(0.0, float(headers["retry-after-ms"]) / 1000)
    except (KeyError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        return None if parsed is None else max(0.0, email.utils.mktime_tz(parsed) - time.time())


def is_context_too_long(message: str, code: str | None = None) -> bool:
    text = f"{code or ''} {message}".lower()
    return any(words in text for words in _CONTEXT_WORDS)


def check_tools(options: ChatOptions, tools: Sequence[Tool]) -> None:
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        raise ValueError("two tools have the same name")
    choice = options.tool_choice
    if choice not in ("auto", "none", "required") and choice not in names:
        raise ValueError(f"tool_choice names {choice!r}, which is not among the tools")
    if choice == "required" and not tools:
        raise ValueError("tool_choice 'required' without tools")

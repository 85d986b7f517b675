"""What the fake chat model vendors (Anthropic, OpenAI, Gemini) share. They have no model: a test
scripts the next reply (its text, split into the stream's deltas as given; tool calls, their
arguments split across chunks as given; the vendor's finish reason; the usage) or the next
failures, and every request is recorded. A chat request with nothing scripted is answered with
an error saying so (501, marked not to be retried), never with an invented answer.

Token counts, where a test gives none, are cl100k counts (``quicktok``) of the request's and the
reply's text: the fake's own, not the vendor's tokenizer; the same text gives the same count."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "UNSCRIPTED",
    "ScriptedCall",
    "ScriptedFailure",
    "ScriptedReply",
    "TokenCounter",
    "VendorRequest",
    "VendorScript",
]

UNSCRIPTED = (
    "The fake has no reply scripted for this request: call fake.reply(...) before the request."
)


@dataclass(frozen=True)
class VendorRequest:
    path: str
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    body: dict[str, Any]

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")


@dataclass(frozen=True)
class ScriptedCall:
    """A tool call: ``arguments`` is a JSON object (or its text), ``chunks`` how a stream splits
    its JSON text (joined, they must decode to the object; default: two halves of the compact
    text); ``signature`` is Gemini's
    ``thoughtSignature``. The id is the vendor's style (``toolu_...``, ``call_...``) unless
    given; Gemini's calls have none unless given, as the Gemini API often sends them."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    chunks: Sequence[str] | None = None
    id: str | None = None
    signature: bytes | None = None

    def __post_init__(self) -> None:
        given = self.chunks is not None and not isinstance(self.arguments, str)
        if given and json.loads("".join(self.chunks or ())) != self.arguments:
            raise ValueError("a scripted call's chunks must join into its arguments")

    @property
    def text(self) -> str:
        """The arguments' JSON text: the chunks joined, else the arguments as given or compact."""
        if self.chunks is not None:
            return "".join(self.chunks)
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, separators=(",", ":"))

    def fragments(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        text = self.text
        middle = len(text) // 2
        return [text[:middle], text[middle:]] if middle else [text]


@dataclass(frozen=True)
class ScriptedReply:
    """``deltas`` joined is the text. ``finish`` is the vendor's own word (default: what the
    vendor says for a reply with or without tool calls). ``usage`` (input, output) overrides
    the counts. A stream closes cleanly after ``cut_after`` events, without its end (a cut
    connection); Anthropic's sends an ``error`` event (``overloaded_error``) after
    ``overloaded_after`` events."""

    deltas: tuple[str, ...] = ()
    calls: tuple[ScriptedCall, ...] = ()
    finish: str | None = None
    usage: tuple[int, int] | None = None
    cut_after: int | None = None
    overloaded_after: int | None = None
    # OpenAI-compatible servers only: put the finish_reason on the last content chunk, as some
    # servers do (vllm#36944), instead of on a chunk of its own with an empty delta.
    finish_on_last_chunk: bool = False

    @property
    def text(self) -> str:
        return "".join(self.deltas)


@dataclass(frozen=True)
class ScriptedFailure:
    status: int
    retry_after: float | None = None


class TokenCounter:
    """cl100k counts, loaded on first use."""

    def __init__(self) -> None:
        self._encoding: Any = None

    def count(self, *texts: str) -> int:
        if self._encoding is None:
            import quicktok

            self._encoding = quicktok.get_encoding("cl100k_base")
        return sum(self._encoding.count(text) for text in texts if text)


@dataclass(kw_only=True)
class VendorScript:
    """The queue of scripted replies and failures, and the requests received; the fakes' base
    (its fields are keywords, so a fake's own come first: ``AnthropicFake("sk-...")``)."""

    requests: list[VendorRequest] = field(default_factory=list)
    _replies: list[ScriptedReply] = field(default_factory=list)
    _failures: list[ScriptedFailure] = field(default_factory=list)
    _tokens: TokenCounter = field(default_factory=TokenCounter)

    def reply(
        self,
        text: str | Sequence[str] = "",
        *,
        tool_calls: Sequence[ScriptedCall] = (),
        finish: str | None = None,
        usage: tuple[int, int] | None = None,
        cut_after: int | None = None,
        overloaded_after: int | None = None,
        finish_on_last_chunk: bool = False,
    ) -> None:
        """The next chat request's answer: ``text`` (a list: the stream's deltas, in order)."""
        deltas = (text,) if isinstance(text, str) else tuple(text)
        self._replies.append(
            ScriptedReply(
                tuple(d for d in deltas if d),
                tuple(tool_calls),
                finish,
                usage,
                cut_after,
                overloaded_after,
                finish_on_last_chunk,
            )
        )

    def fail_next(
        self, count: int = 1, *, status: int = 429, retry_after: float | None = None
    ) -> None:
        """The next ``count`` requests fail with ``status`` in the vendor's error shape
        (``retry_after`` seconds, fractions allowed, for 429 and 5xx)."""
        self._failures.extend([ScriptedFailure(status, retry_after)] * count)

    def _record(self, request: VendorRequest) -> ScriptedFailure | None:
        self.requests.append(request)
        return self._failures.pop(0) if self._failures else None

    def _next_reply(self) -> ScriptedReply | None:
        return self._replies.pop(0) if self._replies else None

    @property
    def pending(self) -> int:
        """Scripted replies not yet asked for (a test may check none were left)."""
        return len(self._replies)

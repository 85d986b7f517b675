"""What a streamed reply is made of, in no vendor's shape, and ``collect`` to gather a stream
into the ``Reply`` that ``complete`` would have given.

Every provider's stream keeps the same order, whatever its vendor does on the wire: text deltas
(never empty) and tool calls, each as ``ToolCallStart`` (its ``index`` among this reply's calls,
counted from 0, its id and name), ``ToolCallDelta`` fragments of its arguments' JSON text (joined,
they are the call's ``arguments``) and ``ToolCallEnd`` with the whole call; then exactly one
``Finish``, last. So OpenAI's chunks can be written from these events whatever the vendor. A
stream that ends before its finish raises ``LLMUnavailable``: a cut reply is never passed off as
a whole one."""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass

from v100.ai.llm._errors import LLMUnavailable
from v100.ai.llm._messages import FinishReason, Reply, ToolCall, Usage

__all__ = [
    "Finish",
    "StreamEvent",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "collect",
]


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    index: int
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int
    arguments: str  # the next fragment of the arguments' JSON text


@dataclass(frozen=True, slots=True)
class ToolCallEnd:
    index: int
    call: ToolCall  # ``call.arguments`` is every fragment joined


@dataclass(frozen=True, slots=True)
class Finish:
    reason: FinishReason
    usage: Usage | None
    model: str
    vendor_reason: str = ""


StreamEvent = TextDelta | ToolCallStart | ToolCallDelta | ToolCallEnd | Finish


async def collect(events: AsyncIterable[StreamEvent]) -> Reply:
    """The reply a stream adds up to (for a caller that streams to a client and stores the
    whole answer)."""
    text: list[str] = []
    calls: dict[int, ToolCall] = {}
    async for event in events:
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, ToolCallEnd):
            calls[event.index] = event.call
        elif isinstance(event, Finish):
            return Reply(
                text="".join(text),
                tool_calls=tuple(calls[i] for i in sorted(calls)),
                finish_reason=event.reason,
                usage=event.usage,
                model=event.model,
                vendor_reason=event.vendor_reason,
            )
    raise LLMUnavailable("the stream ended without its finish")

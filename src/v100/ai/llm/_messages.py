"""What a conversation with a chat model is made of, in no vendor's shape: messages (system,
user, assistant, tool), the tool calls an assistant makes and the tools it may call (JSON Schema
parameters), the options of one call, and the reply with its finish reason and token usage."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ChatOptions",
    "FinishReason",
    "Message",
    "Reply",
    "Role",
    "Tool",
    "ToolCall",
    "ToolChoice",
    "Usage",
    "split_system",
]

Role = Literal["system", "user", "assistant", "tool"]
# One vocabulary for why a reply ended (OpenAI's words, which the OpenAI-compatible endpoint
# sends on): the model was done, hit max_tokens, wants tools called, or was stopped by a filter.
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]
# "auto": the model decides; "none": no tool; "required": some tool; any other value names the
# one tool the model must call.
ToolChoice = str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model asked for. ``arguments`` is the JSON text of the arguments object as the
    model wrote it (OpenAI sends text; Anthropic's and Gemini's objects are serialised), so a
    reply can be passed on unchanged; ``parsed_arguments()`` decodes it. ``signature`` is
    Gemini's opaque ``thought_signature``, sent back with the call in the next request."""

    id: str
    name: str
    arguments: str
    signature: bytes | None = None

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as an object; ``ValueError`` when the model wrote no JSON object (it
        happens: a reply cut at ``max_tokens``, a weak model), for the caller to tell the model."""
        try:
            value = json.loads(self.arguments or "{}")
        except ValueError as exc:
            raise ValueError(f"the arguments of {self.name} are not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise ValueError(f"the arguments of {self.name} are not a JSON object")
        return value


@dataclass(frozen=True, slots=True)
class Message:
    """One turn. ``content`` is text; an assistant turn may carry ``tool_calls``; a tool turn
    answers the call ``tool_call_id`` with ``content`` (``is_error`` when the tool failed)."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False

    def __post_init__(self) -> None:
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only an assistant message carries tool calls")
        if (self.role == "tool") != (self.tool_call_id is not None):
            raise ValueError("a tool message, and only a tool message, answers a tool_call_id")

    @classmethod
    def system(cls, text: str) -> Message:
        return cls("system", text)

    @classmethod
    def user(cls, text: str) -> Message:
        return cls("user", text)

    @classmethod
    def assistant(cls, text: str = "", tool_calls: Sequence[ToolCall] = ()) -> Message:
        return cls("assistant", text, tuple(tool_calls))

    @classmethod
    def tool_result(cls, call_id: str, content: str, *, is_error: bool = False) -> Message:
        return cls("tool", content, tool_call_id=call_id, is_error=is_error)


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call: ``parameters`` is the JSON Schema of its arguments
    object (``{"type": "object", "properties": {...}, "required": [...]}``)."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """One call's settings. ``max_tokens`` None leaves the vendor's default (Anthropic requires
    one: its provider sends its ``default_max_tokens``)."""

    model: str
    temperature: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    tool_choice: ToolChoice = "auto"


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens the vendor counted, which are billed: everything it read (cached prompt parts
    included) and everything it wrote (thinking included)."""

    input_tokens: int
    output_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole answer. ``usage`` is None when the vendor reported none (some self-hosted
    OpenAI-compatible servers); ``vendor_reason`` is the vendor's own word for the finish."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: FinishReason
    usage: Usage | None
    model: str
    vendor_reason: str = ""

    def message(self) -> Message:
        """The reply as the assistant turn of the conversation's next request."""
        return Message.assistant(self.text, self.tool_calls)


def split_system(messages: Sequence[Message]) -> tuple[str, list[Message]]:
    """The system prompt (the leading system messages, joined by a blank line) and the rest, for
    vendors that take it apart from the turns (Anthropic's ``system``, Gemini's
    ``system_instruction``). A system message after the first turn is a ``ValueError``: where
    it would go is a guess, and its words are not dropped silently."""
    system: list[str] = []
    turns: list[Message] = []
    for message in messages:
        if message.role == "system":
            if turns:
                raise ValueError("system messages come before the conversation's turns")
            system.append(message.content)
        else:
            turns.append(message)
    return "\n\n".join(system), turns

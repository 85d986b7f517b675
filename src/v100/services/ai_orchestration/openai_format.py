"""OpenAI's Chat Completions wire format, as ``/v1/chat/completions`` speaks it (ADR 0044): the
request body (the fields this endpoint honours; any other is refused, never dropped), its
messages and tools turned into ``v100.ai.llm``'s neutral ones, the whole answer
(``chat.completion``), the stream's chunks exactly as OpenAI sends them (the same ``id``,
``created`` and ``model`` on every chunk; the role first; content deltas; each tool call as a
first delta with its index, id, type and name, then fragments of its arguments; a last chunk
with an empty delta and the ``finish_reason``; with ``stream_options.include_usage``,
``"usage": null`` on every chunk and then a chunk with no choices and the usage; then
``data: [DONE]``), and errors as OpenAI's ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from v100.ai.llm import Message, Reply, Tool, ToolCall, Usage

__all__ = [
    "ChatRequest",
    "ChunkWriter",
    "completion",
    "error_body",
    "neutral_messages",
    "neutral_tools",
    "tool_choice",
]

_Strict = ConfigDict(extra="forbid")


class _TextPart(BaseModel):
    model_config = _Strict
    type: Literal["text"]
    text: str


class _FunctionCall(BaseModel):
    model_config = _Strict
    name: Annotated[str, Field(min_length=1, max_length=64)]
    arguments: Annotated[str, Field(max_length=1_000_000)]


class _ToolCallIn(BaseModel):
    model_config = _Strict
    id: Annotated[str, Field(min_length=1, max_length=200)]
    type: Literal["function"]
    function: _FunctionCall


class ChatMessageIn(BaseModel):
    model_config = _Strict
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: (
        Annotated[str, Field(max_length=1_000_000)]
        | Annotated[list[_TextPart], Field(max_length=100)]
        | None
    ) = None
    tool_calls: Annotated[list[_ToolCallIn], Field(max_length=128)] | None = None
    tool_call_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class _FunctionIn(BaseModel):
    model_config = _Strict
    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
    description: Annotated[str, Field(max_length=10_000)] = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class _ToolIn(BaseModel):
    model_config = _Strict
    type: Literal["function"]
    function: _FunctionIn


class _NamedFunction(BaseModel):
    model_config = _Strict
    name: Annotated[str, Field(min_length=1, max_length=64)]


class _NamedToolChoice(BaseModel):
    model_config = _Strict
    type: Literal["function"]
    function: _NamedFunction


class _StreamOptions(BaseModel):
    model_config = _Strict
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The fields of OpenAI's request this endpoint honours."""

    model_config = _Strict
    # ``agent:<id>`` (or an agent's id), ``<provider>/<model>``, or a model name.
    model: Annotated[str, Field(min_length=1, max_length=300)]
    messages: Annotated[list[ChatMessageIn], Field(min_length=1, max_length=2000)]
    stream: bool = False
    stream_options: _StreamOptions | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=200_000)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, le=200_000)] | None = None
    stop: (
        Annotated[str, Field(min_length=1, max_length=200)]
        | Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=4)]
        | None
    ) = None
    tools: Annotated[list[_ToolIn], Field(max_length=128)] | None = None
    tool_choice: Literal["auto", "none", "required"] | _NamedToolChoice | None = None
    # One choice only: n > 1 is refused rather than answered with one.
    n: Annotated[int, Field(ge=1, le=1)] = 1


def neutral_messages(messages: list[ChatMessageIn]) -> list[Message]:
    """The request's messages as ``v100.ai.llm`` takes them (``developer`` is a system
    message); ``ValueError`` for a turn that says nothing it can carry."""
    out = []
    for index, message in enumerate(messages):
        text = message.text()
        if message.role in ("system", "developer"):
            out.append(Message.system(text))
        elif message.role == "user":
            out.append(Message.user(text))
        elif message.role == "assistant":
            calls = [
                ToolCall(call.id, call.function.name, call.function.arguments)
                for call in message.tool_calls or ()
            ]
            out.append(Message.assistant(text, calls))
        else:
            if message.tool_call_id is None:
                raise ValueError(f"messages[{index}]: a tool message needs its tool_call_id")
            out.append(Message.tool_result(message.tool_call_id, text))
        if message.role != "assistant" and message.tool_calls:
            raise ValueError(f"messages[{index}]: only an assistant message carries tool_calls")
    return out


def neutral_tools(request: ChatRequest) -> list[Tool]:
    return [
        Tool(tool.function.name, tool.function.description, tool.function.parameters)
        for tool in request.tools or ()
    ]


def tool_choice(request: ChatRequest) -> str:
    choice = request.tool_choice
    if choice is None:
        return "auto"
    if isinstance(choice, str):
        return choice
    return choice.function.name


def new_completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(14)


def _usage(usage: Usage | None) -> dict[str, int]:
    usage = usage or Usage(0, 0)
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def completion(completion_id: str, model: str, reply: Reply) -> dict[str, Any]:
    """The whole answer, as OpenAI's ``chat.completion``."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text if reply.text or not reply.tool_calls else None,
        "refusal": None,
    }
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in reply.tool_calls
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": _usage(reply.usage),
        "system_fingerprint": None,
    }


class ChunkWriter:
    """The stream's ``data:`` lines, in OpenAI's order, each as bytes ready to send."""

    def __init__(self, completion_id: str, model: str, *, include_usage: bool) -> None:
        self._head = (
            b'{"id":'
            + orjson.dumps(completion_id)
            + b',"object":"chat.completion.chunk","created":'
            + str(int(time.time())).encode()
            + b',"model":'
            + orjson.dumps(model)
            + b',"system_fingerprint":null,'
        )
        self._usage_field = b',"usage":null' if include_usage else b""
        self._include_usage = include_usage

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return (
            b"data: "
            + self._head
            + b'"choices":['
            + orjson.dumps(choice)
            + b"]"
            + self._usage_field
            + b"}\n\n"
        )

    def role(self) -> bytes:
        return self._chunk({"role": "assistant", "content": "", "refusal": None})

    def text(self, text: str) -> bytes:
        return self._chunk({"content": text})

    def tool_start(self, index: int, call_id: str, name: str) -> bytes:
        first = {"index": index, "id": call_id, "type": "function"}
        return self._chunk({"tool_calls": [{**first, "function": {"name": name, "arguments": ""}}]})

    def tool_arguments(self, index: int, fragment: str) -> bytes:
        return self._chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})

    def finish(self, reason: str) -> bytes:
        return self._chunk({}, reason)

    def usage(self, usage: Usage | None) -> bytes:
        """The usage chunk (with ``include_usage``; empty bytes otherwise)."""
        if not self._include_usage:
            return b""
        return (
            b"data: "
            + self._head
            + b'"choices":[],"usage":'
            + orjson.dumps(_usage(usage))
            + b"}\n\n"
        )

    @staticmethod
    def done() -> bytes:
        return b"data: [DONE]\n\n"

    @staticmethod
    def error(status: int, message: str, code: str | None) -> bytes:
        """An error after the stream began (OpenAI's SDK raises it as an ``APIError``)."""
        return b"data: " + orjson.dumps(error_body(status, message, code=code)) + b"\n\n"


def error_body(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error shape: ``type`` by status as OpenAI words it, ``code`` the detail."""
    if status == 429:
        kind = "insufficient_quota" if code == "insufficient_quota" else "rate_limit_exceeded"
    elif status >= 500:
        kind = "server_error"
    elif status == 401:
        kind = "authentication_error"
    elif status == 403:
        kind = "permission_error"
    else:
        kind = "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}

"""The Chat Completions part of the fake OpenAI API (``POST /v1/chat/completions``): OpenAI's own
refusals of malformed turns, in its words, and its answers, whole (``chat.completion``) or as the
chunks of a stream (``chat.completion.chunk``), exactly as OpenAI sends them: the same ``id``,
``created`` and ``model`` on every chunk; the role first; content deltas; each tool call as a
first delta with its ``index``, ``id``, ``type`` and name (arguments ``""``) then delta
fragments of its arguments; a last chunk with an empty ``delta`` and the ``finish_reason``;
with ``stream_options.include_usage``, ``"usage": null`` on every chunk and one more chunk with
no choices and the usage; then ``data: [DONE]``."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

from v100.kit.testing.fakes._llm_script import ScriptedCall, ScriptedReply

__all__ = ["check_chat", "chunks", "completion", "texts"]

_FINGERPRINT = "fp_fake0001"


def _call_id() -> str:
    return "call_" + secrets.token_hex(12)


def check_chat(body: dict[str, Any]) -> tuple[str, str | None] | None:
    """OpenAI's 400 for a request it refuses: (message, param), or None."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "[] is too short - 'messages'", "messages"
    tools = body.get("tools")
    if "tool_choice" in body and not tools:
        return (
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            "tool_choice",
        )
    for i, tool in enumerate(tools or []):
        if tool.get("type") != "function" or "name" not in (tool.get("function") or {}):
            return f"Missing required parameter: 'tools[{i}].function'.", f"tools[{i}].function"
    if "stream_options" in body and not body.get("stream"):
        return (
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
        )
    pending: list[str] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            return (
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', "
                "'user', 'tool', and 'developer'.",
                f"messages.[{i}].role",
            )
        if role == "tool":
            if message.get("tool_call_id") not in pending:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            pending.remove(message["tool_call_id"])
            continue
        if pending:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(pending)}",
                f"messages.[{i}].role",
            )
        if role == "assistant":
            pending = [call.get("id") for call in message.get("tool_calls") or []]
    return None


def texts(body: dict[str, Any]) -> list[str]:
    """Everything the model would read, for the token count."""
    out: list[str] = []
    for message in body.get("messages", []):
        content = message.get("content")
        out.append(content if isinstance(content, str) else json.dumps(content))
        out.extend(json.dumps(call) for call in message.get("tool_calls") or [])
    out.extend(json.dumps(tool) for tool in body.get("tools") or [])
    return out


def _usage(usage: tuple[int, int]) -> dict[str, Any]:
    return {
        "prompt_tokens": usage[0],
        "completion_tokens": usage[1],
        "total_tokens": usage[0] + usage[1],
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _finish(reply: ScriptedReply) -> str:
    return reply.finish or ("tool_calls" if reply.calls else "stop")


def completion(model: str, reply: ScriptedReply, usage: tuple[int, int]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text or None,
        "refusal": None,
        "annotations": [],
    }
    if reply.calls:
        message["tool_calls"] = [
            {
                "id": call.id or _call_id(),
                "type": "function",
                "function": {"name": call.name, "arguments": call.text},
            }
            for call in reply.calls
        ]
    return {
        "id": "chatcmpl-" + secrets.token_hex(14),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(reply)}
        ],
        "usage": _usage(usage),
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
    }


def _first_delta(call: ScriptedCall, index: int) -> dict[str, Any]:
    return {
        "index": index,
        "id": call.id or _call_id(),
        "type": "function",
        "function": {"name": call.name, "arguments": ""},
    }


def chunks(
    model: str, reply: ScriptedReply, usage: tuple[int, int], *, include_usage: bool
) -> Iterator[str]:
    """The stream's ``data:`` payloads, in order, ``[DONE]`` last (cut where scripted)."""
    head = {
        "id": "chatcmpl-" + secrets.token_hex(14),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
    }
    deltas: list[dict[str, Any]] = []
    first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
    calls = list(enumerate(reply.calls))
    if not reply.deltas and calls:
        # A reply that only calls tools opens with the role and the first call together.
        index, call = calls.pop(0)
        first = {
            "role": "assistant",
            "content": None,
            "tool_calls": [_first_delta(call, index)],
            "refusal": None,
        }
        deltas.append(first)
        deltas.extend(
            {"tool_calls": [{"index": index, "function": {"arguments": f}}]}
            for f in call.fragments()
        )
    else:
        deltas.append(first)
    deltas.extend({"content": text} for text in reply.deltas)
    for index, call in calls:
        deltas.append({"tool_calls": [_first_delta(call, index)]})
        deltas.extend(
            {"tool_calls": [{"index": index, "function": {"arguments": f}}]}
            for f in call.fragments()
        )
    usage_field = {"usage": None} if include_usage else {}
    payloads: list[dict[str, Any]] = [
        {
            **head,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
            **usage_field,
        }
        for delta in deltas
    ]
    if reply.finish_on_last_chunk:
        payloads[-1]["choices"][0]["finish_reason"] = _finish(reply)
    else:
        payloads.append(
            {
                **head,
                "choices": [
                    {"index": 0, "delta": {}, "logprobs": None, "finish_reason": _finish(reply)}
                ],
                **usage_field,
            }
        )
    if include_usage:
        payloads.append({**head, "choices": [], "usage": _usage(usage)})
    for number, payload in enumerate([*payloads, "[DONE]"]):
        if number == reply.cut_after:
            return
        yield payload if isinstance(payload, str) else json.dumps(payload)

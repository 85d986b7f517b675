"""A local fake of Anthropic's Messages API, speaking its documented wire format: ``POST
/v1/messages`` with the key as ``x-api-key`` or ``Authorization: Bearer`` (the SDK's 2.x
sends the latter; the former wins when both come) and an ``anthropic-version`` header; under
version ``2026-10-21`` and later the sampling parameters (``temperature``, ``top_p``,
``top_k``) are refused, as Anthropic does since that version. The body's ``model``,
``max_tokens``, ``messages`` (roles user and assistant only: the system prompt is the top-level
``system``), ``tools`` (``name``, ``description``, ``input_schema``), ``tool_choice``;
``tool_use`` blocks answered by ``tool_result`` blocks in the next user turn. A whole answer is
``{"id": "msg_...", "type": "message", "role": "assistant", "content": [text and tool_use
blocks], "model", "stop_reason", "stop_sequence", "usage"}``; with ``"stream": true``, SSE
events named as their ``type``: ``message_start``, ``content_block_start``, ``ping``,
``content_block_delta`` (``text_delta``, ``input_json_delta`` from an empty first fragment),
``content_block_stop``, ``message_delta`` (stop reason, cumulative output tokens),
``message_stop``, or an ``error`` event. Errors are ``{"type": "error", "error": {"type",
"message"}, "request_id"}``: 401 ``authentication_error``, 400 ``invalid_request_error``
(missing header or field, a ``system`` role, unanswered or unknown tool ids, a prompt past
``context_window``), 429 ``rate_limit_error`` with ``retry-after``, 500 ``api_error``, 529
``overloaded_error``.

    fake = AnthropicFake(api_key="sk-ant-test")
    fake.reply(["Hel", "lo"], usage=(12, 2))          # the next answer, and its stream's deltas
    fake.reply(tool_calls=[ScriptedCall("weather", {"city": "Paris"}, chunks=['{"city"', ...])])
    fake.fail_next(1, status=529)
    async with serving(fake.app, lifespan="off") as base_url:
        ...                                           # the SDK's base_url is base_url
        fake.requests[-1].body["system"]              # what reached the API
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from v100.kit.testing.fakes._llm_script import (
    UNSCRIPTED,
    ScriptedCall,
    ScriptedReply,
    VendorRequest,
    VendorScript,
)

__all__ = ["AnthropicFake", "ScriptedCall", "VendorRequest"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
# The API version from which Anthropic refuses sampling parameters.
_NO_SAMPLING_SINCE = "2026-10-21"
_SAMPLING = ("temperature", "top_p", "top_k")
_MESSAGES = {
    429: "Number of request tokens has exceeded your per-minute rate limit.",
    500: "Internal server error",
    529: "Overloaded",
}


def _id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(18).replace("-", "a").replace("_", "b")


def _error(
    status: int,
    message: str,
    *,
    retry_after: float | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    kind = _ERROR_TYPES.get(status, "api_error")
    extra = dict(headers or {})
    if retry_after is not None:
        extra["retry-after"] = f"{retry_after:g}"
    return JSONResponse(
        {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": _id("req_"),
        },
        status_code=status,
        headers=extra,
    )


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def _texts(body: dict[str, Any]) -> list[str]:
    """Everything the model would read, for the token count."""
    texts = [body["system"] if isinstance(body.get("system"), str) else ""]
    for message in body.get("messages", []):
        content = message.get("content")
        texts.append(content if isinstance(content, str) else json.dumps(content))
    texts.extend(json.dumps(tool) for tool in body.get("tools", []))
    return texts


def _check_turns(messages: Any) -> str | None:
    """Anthropic's own refusals of malformed turns, in its words."""
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    pending: list[str] = []
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "system":
            return (
                f'messages.{i}.role: Unexpected role "system". The Messages API accepts a '
                'top-level `system` parameter, not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        answered = [
            b.get("tool_use_id")
            for b in blocks
            if isinstance(b, dict) and b.get("type") == "tool_result"
        ]
        for j, call_id in enumerate(answered):
            if call_id not in pending:
                return (
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                    f"`tool_result` blocks: {call_id}. Each `tool_result` block must have a "
                    "corresponding `tool_use` block in the previous message."
                )
        missing = [p for p in pending if p not in answered]
        if missing:
            return (
                f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
        pending = [
            str(b.get("id")) for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"
        ]
    return None


@dataclass
class AnthropicFake(VendorScript):
    api_key: str = "sk-ant-test"
    context_window: int = 200_000

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])

    async def _messages(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "There was an issue with the request body: invalid JSON")
        headers = {k.lower(): v for k, v in request.headers.items()}
        failure = self._record(
            VendorRequest("/v1/messages", headers, dict(request.query_params), body)
        )
        if failure is not None:
            return _error(
                failure.status,
                _MESSAGES.get(failure.status, "Error"),
                retry_after=failure.retry_after,
            )
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        if headers.get("x-api-key", bearer) != self.api_key:
            return _error(401, "invalid x-api-key")
        version = headers.get("anthropic-version")
        if not version:
            return _error(400, "anthropic-version: header is required")
        for name in _SAMPLING:
            if name in body and version >= _NO_SAMPLING_SINCE:
                return _error(400, f"{name}: Extra inputs are not permitted")
        for name in ("model", "max_tokens"):
            if name not in body:
                return _error(400, f"{name}: Field required")
        for i, tool in enumerate(body.get("tools", [])):
            if "input_schema" not in tool:
                return _error(400, f"tools.{i}.input_schema: Field required")
        refusal = _check_turns(body.get("messages"))
        if refusal:
            return _error(400, refusal)
        tokens = self._tokens.count(*_texts(body))
        if tokens > self.context_window:
            return _error(
                400, f"prompt is too long: {tokens} tokens > {self.context_window} maximum"
            )
        reply = self._next_reply()
        if reply is None:
            return _error(501, UNSCRIPTED, headers={"x-should-retry": "false"})
        usage = reply.usage or (
            tokens,
            self._tokens.count(reply.text, *(c.text for c in reply.calls)),
        )
        calls = [(call, call.id or _id("toolu_")) for call in reply.calls]
        finish = reply.finish or ("tool_use" if calls else "end_turn")
        if body.get("stream"):
            return StreamingResponse(
                self._events(body["model"], reply, calls, finish, usage),
                media_type="text/event-stream; charset=utf-8",
                headers={"request-id": _id("req_"), "cache-control": "no-cache"},
            )
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
        content.extend(
            {"type": "tool_use", "id": call_id, "name": call.name, "input": json.loads(call.text)}
            for call, call_id in calls
        )
        return JSONResponse(
            {
                "id": _id("msg_"),
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": finish,
                "stop_sequence": None,
                "usage": _usage(*usage),
            },
            headers={"request-id": _id("req_")},
        )

    async def _events(
        self,
        model: str,
        reply: ScriptedReply,
        calls: list[tuple[ScriptedCall, str]],
        finish: str,
        usage: tuple[int, int],
    ) -> AsyncIterator[bytes]:
        events: list[dict[str, Any]] = [
            {
                "type": "message_start",
                "message": {
                    "id": _id("msg_"),
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": _usage(usage[0], 1),
                },
            },
        ]
        index = 0
        if reply.deltas:
            events.append(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                }
            )
            events.append({"type": "ping"})
            events.extend(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": d},
                }
                for d in reply.deltas
            )
            events.append({"type": "content_block_stop", "index": 0})
            index = 1
        else:
            events.append({"type": "ping"})
        for call, call_id in calls:
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": call_id,
                        "name": call.name,
                        "input": {},
                    },
                }
            )
            # Anthropic's first fragment is empty; a call without arguments has no other.
            fragments = [""] + ([] if call.text == "{}" else call.fragments())
            events.extend(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": fragment},
                }
                for fragment in fragments
            )
            events.append({"type": "content_block_stop", "index": index})
            index += 1
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": finish, "stop_sequence": None},
                "usage": {"output_tokens": usage[1]},
            }
        )
        events.append({"type": "message_stop"})
        for number, event in enumerate(events):
            if number == reply.cut_after:
                return
            if number == reply.overloaded_after:
                yield _sse(
                    {
                        "type": "error",
                        "error": {"type": "overloaded_error", "message": "Overloaded"},
                    }
                )
                return
            yield _sse(event)


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "service_tier": "standard",
    }

"""A local fake of Google's Gemini API (``generativelanguage``), speaking its documented wire
format: ``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``,
the key as ``x-goog-api-key`` or ``?key=``; the body's ``contents`` (roles ``user`` and
``model``; parts ``text``, ``functionCall``, ``functionResponse``), ``systemInstruction``,
``tools`` (``functionDeclarations``), ``toolConfig``, ``generationConfig``. An answer is
``{"candidates": [{"content": {"role": "model", "parts": [...]}, "finishReason", "index"}],
"usageMetadata", "modelVersion", "responseId"}``; a stream is such answers as SSE ``data:``
lines ended by CRLF pairs, the text in pieces, each function call whole in one part (with
its ``thoughtSignature`` when scripted), the finish and the whole usage on the last. Errors are
``{"error": {"code", "message", "status", "details"}}``: a wrong key is 400 INVALID_ARGUMENT
with reason ``API_KEY_INVALID`` (no key: 403 PERMISSION_DENIED), 429 RESOURCE_EXHAUSTED with a
``google.rpc.RetryInfo`` ``retryDelay``, 400 for turns Gemini refuses (a function response not
right after its call turn, or not one per call; a call replayed without the thought signature
it came with; a prompt past ``context_window``), 500 INTERNAL, 503 UNAVAILABLE.

    fake = GeminiFake(api_key="gm-test")
    fake.reply(["Hel", "lo"], usage=(12, 2))
    fake.reply(tool_calls=[ScriptedCall("weather", {"city": "Paris"}, signature=b"sig")])
    async with serving(fake.app, lifespan="off") as base_url:
        ...                                    # the SDK's http_options base_url is base_url
        fake.requests[-1].body["systemInstruction"]
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
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

__all__ = ["GeminiFake", "ScriptedCall", "VendorRequest"]

_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}
_MESSAGES = {
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}
_KEY_INVALID = "API key not valid. Please pass a valid API key."


def _error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status)


def _texts(body: dict[str, Any]) -> list[str]:
    """Everything the model would read, for the token count."""
    out = [json.dumps(body.get("systemInstruction") or "")]
    out.extend(json.dumps(content) for content in body.get("contents") or [])
    out.extend(json.dumps(tool) for tool in body.get("tools") or [])
    return out


def _signature_key(name: str, args: Any) -> str:
    return name + json.dumps(args, sort_keys=True)


def _answer(
    model: str,
    reply: ScriptedReply,
    texts: tuple[str, ...],
    calls: tuple[ScriptedCall, ...],
    usage: tuple[int, int],
    response_id: str,
    last: bool = True,
) -> dict[str, Any]:
    """One answer (or stream chunk); the last carries the finish and the whole usage."""
    parts: list[dict[str, Any]] = []
    if texts:
        parts.append({"text": "".join(texts)})
    for call in calls:
        function_call: dict[str, Any] = {"name": call.name, "args": json.loads(call.text)}
        if call.id is not None:
            function_call["id"] = call.id
        part: dict[str, Any] = {"functionCall": function_call}
        if call.signature is not None:
            part["thoughtSignature"] = base64.b64encode(call.signature).decode()
        parts.append(part)
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    metadata: dict[str, Any] = {"promptTokenCount": usage[0], "totalTokenCount": usage[0]}
    if last:
        candidate["finishReason"] = reply.finish or "STOP"
        metadata = {
            "promptTokenCount": usage[0],
            "candidatesTokenCount": usage[1],
            "totalTokenCount": usage[0] + usage[1],
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": usage[0]}],
        }
    return {
        "candidates": [candidate],
        "usageMetadata": metadata,
        "modelVersion": model,
        "responseId": response_id,
    }


@dataclass
class GeminiFake(VendorScript):
    api_key: str = "gm-test"
    context_window: int = 1_048_576
    # The thought signatures this fake gave, by call: a call replayed without one is refused.
    _signatures: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[Route("/{version}/models/{target}", self._models, methods=["POST"])]
        )

    def _check_turns(self, body: dict[str, Any]) -> str | None:
        """Gemini's own refusals of malformed turns, in its words."""
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return "* GenerateContentRequest.contents: contents is not specified\n"
        calls_before = 0
        for position, content in enumerate(contents):
            if content.get("role") not in ("user", "model"):
                return "Please use a valid role: user, model."
            parts = content.get("parts") or []
            calls = [p["functionCall"] for p in parts if "functionCall" in p]
            responses = [p for p in parts if "functionResponse" in p]
            if responses and not calls_before:
                return (
                    "Please ensure that function response turn comes immediately after a "
                    "function call turn."
                )
            if responses and len(responses) != calls_before:
                return (
                    "Please ensure that the number of function response parts is equal to the "
                    "number of function call parts of the function call turn."
                )
            for part in parts:
                call = part.get("functionCall")
                if call is None:
                    continue
                given = self._signatures.get(_signature_key(call.get("name", ""), call.get("args")))
                if given is not None and part.get("thoughtSignature") != given:
                    return (
                        "Function call is missing a thought_signature in functionCall parts. "
                        "This is required for tools to work correctly, and missing "
                        "thought_signature may lead to degraded model performance. Additional "
                        f"data, function call `default_api:{call.get('name')}` , position "
                        f"{position + 1}. Please refer to "
                        "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
                    )
            calls_before = len(calls)
        return None

    async def _models(self, request: Request) -> Response:
        model, _, method = request.path_params["target"].partition(":")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "Invalid JSON payload received.")
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(request.query_params)
        failure = self._record(VendorRequest(request.url.path, headers, query, body))
        if failure is not None:
            details = []
            if failure.retry_after is not None:
                details.append(
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{failure.retry_after:g}s",
                    }
                )
            return _error(failure.status, _MESSAGES.get(failure.status, "Error"), details)
        key = headers.get("x-goog-api-key") or query.get("key")
        if not key:
            return _error(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        if key != self.api_key:
            return _error(
                400,
                _KEY_INVALID,
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    }
                ],
            )
        if method not in ("generateContent", "streamGenerateContent"):
            return _error(404, f"Method {method} is not found for models/{model}.")
        refused = self._check_turns(body)
        if refused:
            return _error(400, refused)
        tokens = self._tokens.count(*_texts(body))
        if tokens > self.context_window:
            return _error(
                400,
                f"The input token count ({tokens}) exceeds the maximum number of tokens allowed "
                f"({self.context_window}).",
            )
        reply = self._next_reply()
        if reply is None:
            return _error(501, UNSCRIPTED)
        usage = reply.usage or (
            tokens,
            self._tokens.count(reply.text, *(call.text for call in reply.calls)),
        )
        for call in reply.calls:
            if call.signature is not None:
                key_of_call = _signature_key(call.name, json.loads(call.text))
                self._signatures[key_of_call] = base64.b64encode(call.signature).decode()
        if method == "generateContent":
            return JSONResponse(
                _answer(model, reply, reply.deltas, reply.calls, usage, secrets.token_urlsafe(16))
            )
        if query.get("alt") != "sse":
            return _error(400, "The fake streams only with alt=sse, as the SDK asks.")
        return StreamingResponse(self._stream(model, reply, usage), media_type="text/event-stream")

    async def _stream(
        self, model: str, reply: ScriptedReply, usage: tuple[int, int]
    ) -> AsyncIterator[bytes]:
        pieces: list[tuple[tuple[str, ...], tuple[ScriptedCall, ...]]] = [
            ((text,), ()) for text in reply.deltas
        ]
        pieces.extend(((), (call,)) for call in reply.calls)
        pieces = pieces or [((), ())]
        response_id = secrets.token_urlsafe(16)  # one id for every chunk of the stream
        for number, (texts, calls) in enumerate(pieces):
            if number == reply.cut_after:
                return
            last = number == len(pieces) - 1
            answer = _answer(model, reply, texts, calls, usage, response_id, last)
            yield f"data: {json.dumps(answer)}\r\n\r\n".encode()

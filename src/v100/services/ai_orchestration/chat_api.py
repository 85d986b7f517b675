"""``POST /v1/chat/completions``, OpenAI-compatible (ADR 0044): ``model`` names an agent or a
provider's model; the answer is whole, or (``stream: true``) server-sent events exactly as
OpenAI sends them. Every failure on this route, a refused body or scope included, is answered in
OpenAI's error shape, which its clients parse (``OpenAIErrorRoute``); the rest of the service
answers problem+json. Thin: parse, check the scope, call ``ChatService``, shape."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, StreamingResponse

from v100.kit.auth import Principal
from v100.kit.errors import ProblemError
from v100.kit.http import Authorized
from v100.services.ai_orchestration.chat import ChatService, sse
from v100.services.ai_orchestration.deps import AgentsDep, CallsDep, SessionsDep
from v100.services.ai_orchestration.openai_format import (
    ChatRequest,
    ChunkWriter,
    completion,
    error_body,
    new_completion_id,
)

__all__ = ["CHAT_PATH", "OpenAIErrorRoute", "chat_router"]

CHAT_PATH = "/v1/chat/completions"
ChatWrite = Annotated[Principal, Depends(Authorized("chat:write"))]
# OpenAI's codes for our problems, where its clients know a word of their own.
_CODES = {
    "model-not-found": "model_not_found",
    "tokens-per-minute": "rate_limit_exceeded",
    "insufficient-credits": "insufficient_quota",
}
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description + " (OpenAI's error shape)",
        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
    }
    for status, description in {
        400: "The request cannot be taken",
        403: "The credential lacks chat:write",
        404: "No such agent, or no key for the provider",
        429: "Tokens per minute, or credits, exhausted",
        502: "The provider refused the key",
        503: "The provider or billing is unavailable",
    }.items()
}
_STREAMED: dict[str, Any] = {
    "text/event-stream": {"schema": {"type": "string", "description": "chat.completion.chunk"}}
}


def _openai_error(exc: ProblemError) -> JSONResponse:
    # A plain bad request has no code at OpenAI (``param`` names the field).
    generic = exc.slug in ("bad-request", "validation-failed")
    code = None if generic else _CODES.get(exc.slug, exc.slug.replace("-", "_"))
    status = exc.status
    headers = dict(exc.headers)
    if exc.slug == "insufficient-credits":
        # OpenAI answers an account out of credit 429 insufficient_quota; its SDKs retry a 429
        # unless told not to.
        status = 429
        headers["x-should-retry"] = "false"
    param = exc.extra.get("param")
    body = error_body(
        status, exc.detail or exc.title, code=code, param=param if isinstance(param, str) else None
    )
    return JSONResponse(body, status_code=status, headers=headers)


def _param(location: tuple[Any, ...]) -> str:
    """A validation error's place as OpenAI writes it: ``messages[0].role``."""
    out = ""
    for part in location[1:] if location[:1] == ("body",) else location:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


class OpenAIErrorRoute(APIRoute):
    """A route whose failures are answered in OpenAI's error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = exc.errors()
                first = errors[0] if errors else {}
                where = _param(tuple(first.get("loc", ())))
                message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid body"
                if first.get("type") == "json_invalid":
                    message = "We could not parse the JSON body of your request."
                body = error_body(400, message, param=where or None)
                return JSONResponse(body, status_code=400)
            except ProblemError as exc:
                return _openai_error(exc)

        return route


chat_router = APIRouter(tags=["chat"], route_class=OpenAIErrorRoute)


@chat_router.post(
    CHAT_PATH,
    responses={200: {"content": _STREAMED}, **_ERRORS},
)
async def create_chat_completion(
    body: ChatRequest,
    principal: ChatWrite,
    agents: AgentsDep,
    calls: CallsDep,
    sessions: SessionsDep,
) -> Response:
    """Chat with an agent or a model, OpenAI-compatible (whole or streamed)."""
    chat = ChatService(sessions, agents, calls)
    prepared = await chat.prepare(body, principal)
    completion_id = new_completion_id()
    headers = {"X-V100-Answered-By": "no-llm" if prepared.no_llm is not None else "llm"}
    if not body.stream:
        reply = await chat.complete(prepared, principal)
        return JSONResponse(completion(completion_id, prepared.model, reply), headers=headers)
    events = await chat.open_stream(prepared, principal)
    include_usage = body.stream_options is not None and body.stream_options.include_usage
    writer = ChunkWriter(completion_id, prepared.model, include_usage=include_usage)
    return StreamingResponse(
        sse(events, writer),
        media_type="text/event-stream",
        headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

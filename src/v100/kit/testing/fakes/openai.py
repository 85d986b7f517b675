"""A local fake of OpenAI's API (and of any server that copies it), speaking its documented wire
format: ``Authorization: Bearer <key>``; errors as ``{"error": {"message", "type", "param",
"code"}}`` (401 ``invalid_api_key``, 429 ``rate_limit_exceeded`` with ``retry-after``, 400
``invalid_request_error``, 400 ``context_length_exceeded`` past ``context_window``, 500/503
``server_error``).

- ``POST /v1/embeddings`` with ``{"model", "input": str | [str], "encoding_format": "float" |
  "base64", "dimensions"}`` answered with ``{"object": "list", "data": [{"object": "embedding",
  "index", "embedding"}], "model", "usage": {"prompt_tokens", "total_tokens"}}``; 400 for an
  unknown model, too many inputs or an input over 8,191 tokens. It has no model: a text's
  vector is one a test registered for it, else a unit vector seeded by the text's hash (the
  same text always gets the same vector, different texts nearly orthogonal ones).
- ``POST /v1/chat/completions``, whole or streamed (``_openai_chat.py`` has the format): the
  reply a test scripted (``fake.reply``, see ``_llm_script.py``), never an invented one.

Tokens are counted with cl100k (``quicktok``), the encoding of OpenAI's embedding models.

    fake = OpenAIFake(api_key="sk-test")
    fake.register("cats purr", vector)        # what this text embeds to
    fake.reply(["Hel", "lo"], usage=(9, 2))   # the next chat answer and its stream's deltas
    async with serving(fake.app, lifespan="off") as base_url:
        ...                                   # the SDK's base_url is base_url + "/v1"
        fake.fail_next(2, status=429)
        fake.requests[-1].body                # what reached the API
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from v100.kit.testing.fakes._llm_script import (
    UNSCRIPTED,
    ScriptedCall,
    VendorRequest,
    VendorScript,
)
from v100.kit.testing.fakes._openai_chat import check_chat, chunks, completion, texts

__all__ = ["OpenAIFake", "ScriptedCall", "VendorRequest"]

_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_MAX_INPUTS = 2048
_MAX_TOKENS = 8191
_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    501: ("server_error", None),
    503: ("server_error", None),
}
_MESSAGES = {
    429: "Rate limit reached for requests. Please try again in 20ms.",
    503: "The engine is currently overloaded, please try again later.",
}


def _error(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    kind, default_code = _ERROR_TYPES.get(status, ("server_error", None))
    return JSONResponse(
        {
            "error": {
                "message": message,
                "type": kind,
                "param": param,
                "code": code or default_code,
            }
        },
        status_code=status,
        headers=headers,
    )


def _seeded_vector(text: str, dimension: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
    return vector / np.linalg.norm(vector)


async def _sse(payloads: Iterator[str]) -> AsyncIterator[bytes]:
    # Async, so Starlette sends each chunk from the loop rather than a worker thread.
    for payload in payloads:
        yield f"data: {payload}\n\n".encode()


@dataclass
class OpenAIFake(VendorScript):
    api_key: str = "sk-test"
    context_window: int = 128_000
    _vectors: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
            ]
        )

    def register(self, text: str, vector: Any) -> None:
        """``text`` embeds to ``vector`` (for the full native dimension of any model; a
        request with ``dimensions`` gets it cut and renormalised, as OpenAI's models do)."""
        self._vectors[text] = np.asarray(vector, dtype=np.float32)

    async def _received(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        """The body, and the answer when the request stops here (a scripted failure, a body
        that is not JSON, a wrong key)."""
        try:
            body = json.loads(await request.body())
        except ValueError:
            return {}, _error(400, "We could not parse the JSON body of your request.")
        headers = {k.lower(): v for k, v in request.headers.items()}
        failure = self._record(
            VendorRequest(request.url.path, headers, dict(request.query_params), body)
        )
        if failure is not None:
            extra = (
                {} if failure.retry_after is None else {"retry-after": f"{failure.retry_after:g}"}
            )
            message = _MESSAGES.get(
                failure.status, "The server had an error while processing your request."
            )
            return body, _error(failure.status, message, headers=extra)
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return body, _error(401, "Incorrect API key provided.")
        return body, None

    def _vector(self, text: str, native: int, dimensions: int) -> np.ndarray:
        vector = self._vectors.get(text)
        vector = _seeded_vector(text, native) if vector is None else np.resize(vector, native)
        cut = vector[:dimensions]
        norm = float(np.linalg.norm(cut))
        return cut / norm if norm > 0 else cut

    async def _chat(self, request: Request) -> Response:
        body, stopped = await self._received(request)
        if stopped is not None:
            return stopped
        refused = check_chat(body)
        if refused is not None:
            return _error(400, refused[0], param=refused[1])
        tokens = self._tokens.count(*texts(body))
        if tokens > self.context_window:
            return _error(
                400,
                f"This model's maximum context length is {self.context_window} tokens. However, "
                f"your messages resulted in {tokens} tokens. Please reduce the length of the "
                "messages.",
                param="messages",
                code="context_length_exceeded",
            )
        reply = self._next_reply()
        if reply is None:
            return _error(501, UNSCRIPTED, headers={"x-should-retry": "false"})
        usage = reply.usage or (
            tokens,
            self._tokens.count(reply.text, *(call.text for call in reply.calls)),
        )
        model = str(body.get("model"))
        if not body.get("stream"):
            return JSONResponse(completion(model, reply, usage))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            _sse(chunks(model, reply, usage, include_usage=include_usage)),
            media_type="text/event-stream; charset=utf-8",
        )

    async def _embeddings(self, request: Request) -> Response:
        body, stopped = await self._received(request)
        if stopped is not None:
            return stopped
        model = body.get("model")
        if model not in _DIMENSIONS:
            return _error(400, f"The model `{model}` does not exist.", param="model")
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if (
            not isinstance(inputs, list)
            or not inputs
            or not all(isinstance(t, str) for t in inputs)
        ):
            return _error(
                400, "'input' must be a string or a non-empty array of strings.", param="input"
            )
        if len(inputs) > _MAX_INPUTS:
            return _error(400, f"'input' has more than {_MAX_INPUTS} items.", param="input")
        native = _DIMENSIONS[model]
        dimensions = body.get("dimensions", native)
        if model == "text-embedding-ada-002" and "dimensions" in body:
            return _error(
                400, "This model does not support specifying dimensions.", param="dimensions"
            )
        if not isinstance(dimensions, int) or not 0 < dimensions <= native:
            return _error(400, f"'dimensions' must be between 1 and {native}.", param="dimensions")
        counts = [self._tokens.count(text) for text in inputs]
        if max(counts) > _MAX_TOKENS:
            return _error(
                400,
                f"This model's maximum context length is {_MAX_TOKENS + 1} tokens, however you "
                f"requested {max(counts)} tokens. Please reduce your prompt.",
                param="input",
            )
        encoding = body.get("encoding_format", "float")
        data = []
        for index, text in enumerate(inputs):
            vector = self._vector(text, native, dimensions)
            embedding: Any = (
                base64.b64encode(vector.astype("<f4").tobytes()).decode()
                if encoding == "base64"
                else [float(x) for x in vector]
            )
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(counts)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

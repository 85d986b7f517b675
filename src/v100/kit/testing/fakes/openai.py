"""A local fake of OpenAI's API, speaking its documented wire format: ``Authorization: Bearer
<key>``; ``POST /v1/embeddings`` with ``{"model", "input": str | [str], "encoding_format":
"float" | "base64", "dimensions"}`` answered with ``{"object": "list", "data": [{"object":
"embedding", "index", "embedding"}], "model", "usage": {"prompt_tokens", "total_tokens"}}``;
errors as ``{"error": {"message", "type", "param", "code"}}`` (401 ``invalid_api_key``, 429
``rate_limit_exceeded``, 400 ``invalid_request_error`` for an unknown model, too many inputs or
an input over 8,191 tokens).

It has no model. A text's vector is one a test registered for it, else a unit vector seeded by
the text's hash: the same text always gets the same vector, different texts nearly orthogonal
ones. Tokens are counted with cl100k (``quicktok``), the encoding of OpenAI's embedding models.

    fake = OpenAIFake(api_key="sk-test")
    fake.register("cats purr", vector)        # what this text embeds to
    async with serving(fake.app, lifespan="off") as base_url:
        ...                                   # the SDK's base_url is base_url + "/v1"
        fake.fail_next(2, status=429)
        fake.requests[-1].body                # what reached the API
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["OpenAIFake", "OpenAIRequest"]

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
    503: ("server_error", None),
}


@dataclass(frozen=True)
class OpenAIRequest:
    path: str
    authorization: str
    body: dict[str, Any]


def _error(status: int, message: str, *, param: str | None = None) -> JSONResponse:
    kind, code = _ERROR_TYPES.get(status, ("server_error", None))
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": param, "code": code}},
        status_code=status,
    )


def _seeded_vector(text: str, dimension: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
    return vector / np.linalg.norm(vector)


@dataclass
class OpenAIFake:
    api_key: str = "sk-test"
    requests: list[OpenAIRequest] = field(default_factory=list)
    _vectors: dict[str, np.ndarray] = field(default_factory=dict)
    _failures: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        import quicktok

        self._encoding = quicktok.get_encoding("cl100k_base")
        self.app = Starlette(routes=[Route("/v1/embeddings", self._embeddings, methods=["POST"])])

    def register(self, text: str, vector: Any) -> None:
        """``text`` embeds to ``vector`` (for the full native dimension of any model; a
        request with ``dimensions`` gets it cut and renormalised, as OpenAI's models do)."""
        self._vectors[text] = np.asarray(vector, dtype=np.float32)

    def fail_next(self, count: int = 1, *, status: int = 429) -> None:
        self._failures.extend([status] * count)

    def _vector(self, text: str, native: int, dimensions: int) -> np.ndarray:
        vector = self._vectors.get(text)
        vector = _seeded_vector(text, native) if vector is None else np.resize(vector, native)
        cut = vector[:dimensions]
        norm = float(np.linalg.norm(cut))
        return cut / norm if norm > 0 else cut

    async def _embeddings(self, request: Request) -> JSONResponse:
        authorization = request.headers.get("authorization", "")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        self.requests.append(OpenAIRequest("/v1/embeddings", authorization, body))
        if self._failures:
            status = self._failures.pop(0)
            return _error(
                status, "Rate limit reached." if status == 429 else "The server had an error."
            )
        if authorization != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.")
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
        counts = [self._encoding.count(text) for text in inputs]
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

"""Browsers at the gateway: CORS for the origins the operator lists (``cors_origins``), answered
before authentication, since a browser's preflight carries no credential. A preflight from a
listed origin gets 204 with what it may send; every answer to such an origin names it and the
headers it may read (tus's among them, so tus-js-client can resume). A bare ``OPTIONS`` on the
tus endpoint is tus's own discovery request: 204 with the protocol's headers, no credential
needed (the size limit comes with an authenticated ``OPTIONS``, from the service). Under
``own_cors_prefixes`` (stream_proxy's ``/hls/``: players on tenants' own sites, with signed URLs)
the service answers CORS itself and the gateway leaves requests and answers as they are."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from v100.kit.errors import Forbidden
from v100.kit.http import problem_response
from v100.kit.tus import EXPOSED_HEADERS, TUS_EXTENSIONS, TUS_VERSION

__all__ = ["CorsMiddleware"]

_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
_ALLOWED_HEADERS = (
    "Authorization, X-API-Key, Content-Type, Idempotency-Key, X-Request-Id, Tus-Resumable, "
    "Upload-Length, Upload-Offset, Upload-Metadata, Upload-Defer-Length, Upload-Checksum, "
    "Upload-Concat, X-HTTP-Method-Override"
)
_EXPOSED = (
    f"{EXPOSED_HEADERS}, X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, "
    "RateLimit-Reset, RateLimit-Policy, Idempotent-Replayed, Server-Timing"
)
_TUS_HEADERS = {
    "Tus-Resumable": TUS_VERSION,
    "Tus-Version": TUS_VERSION,
    "Tus-Extension": ",".join(TUS_EXTENSIONS),
}


class CorsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        origins: Sequence[str],
        max_age: int,
        tus_paths: Sequence[str],
        own_cors_prefixes: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.max_age = str(max_age)
        # The tus creation URLs and the uploads under them ("/v1/uploads", "/v1/uploads/").
        self.tus_paths = tuple(tus_paths)
        self.own_cors_prefixes = tuple(own_cors_prefixes)

    def _is_tus(self, path: str) -> bool:
        return any(path == base or path.startswith(base + "/") for base in self.tus_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            self.own_cors_prefixes and scope["path"].startswith(self.own_cors_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if (
            scope["method"] == "OPTIONS"
            and "authorization" not in headers
            and ("x-api-key" not in headers)
        ):
            if origin is not None and "access-control-request-method" in headers:
                await self._preflight(scope, receive, send, origin)
                return
            if self._is_tus(scope["path"]):
                await _no_content(_TUS_HEADERS)(scope, receive, send)
                return
        if origin is None or origin not in self.origins:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer = MutableHeaders(scope=message)
                answer["Access-Control-Allow-Origin"] = origin
                answer["Access-Control-Expose-Headers"] = _EXPOSED
                answer.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, scope: Scope, receive: Receive, send: Send, origin: str) -> None:
        if origin not in self.origins:
            error = Forbidden(f"The origin {origin!r} is not allowed (V100_GATEWAY_CORS_ORIGINS).")
            await problem_response(error, scope["path"])(scope, receive, send)
            return
        answer = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": _METHODS,
            "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
            "Access-Control-Max-Age": self.max_age,
            "Vary": "Origin",
        }
        if self._is_tus(scope["path"]):
            answer |= _TUS_HEADERS
        await _no_content(answer)(scope, receive, send)


def _no_content(headers: dict[str, str]) -> ASGIApp:
    async def respond(scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        await send({"type": "http.response.start", "status": 204, "headers": raw})
        await send({"type": "http.response.body", "body": b""})

    return respond

"""CORS and caching rules for everything under ``/hls/``, the part of the service a player in a
browser on a tenant's own site fetches: each answer names the allowed origin (``*`` by default:
the signed URL is the credential) and exposes what hls.js reads (``Content-Range``,
``Content-Length``, ``Accept-Ranges``, ``ETag``); a preflight (hls.js sends ``Range`` on byte-range
playlists) gets 204 without a token check; an error is never cached (``no-store``)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HLS_PREFIX", "HlsCorsMiddleware"]

HLS_PREFIX = "/hls/"
_METHODS = "GET, HEAD, OPTIONS"
_ALLOWED_HEADERS = "Range, If-None-Match, If-Range, If-Modified-Since, Accept, Origin"
_EXPOSED = "Content-Length, Content-Range, Accept-Ranges, ETag, Retry-After"
_MAX_AGE = "86400"


class HlsCorsMiddleware:
    def __init__(self, app: ASGIApp, *, origins: Sequence[str]) -> None:
        self.app = app
        self.any_origin = "*" in origins
        self.origins = frozenset(origins)

    def _allowed(self, origin: str | None) -> str | None:
        if self.any_origin:
            return "*"
        if origin is not None and origin in self.origins:
            return origin
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(HLS_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        allowed = self._allowed(headers.get("origin"))
        if scope["method"] == "OPTIONS":
            await self._preflight(send, allowed)
            return

        async def with_rules(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer = MutableHeaders(scope=message)
                if allowed is not None:
                    answer["Access-Control-Allow-Origin"] = allowed
                    answer["Access-Control-Expose-Headers"] = _EXPOSED
                if not self.any_origin:
                    answer.add_vary_header("Origin")
                if message["status"] >= 400:
                    answer["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_rules)

    async def _preflight(self, send: Send, allowed: str | None) -> None:
        raw = [(b"allow", _METHODS.encode()), (b"cache-control", b"no-store")]
        if allowed is not None:
            raw += [
                (b"access-control-allow-origin", allowed.encode()),
                (b"access-control-allow-methods", _METHODS.encode()),
                (b"access-control-allow-headers", _ALLOWED_HEADERS.encode()),
                (b"access-control-max-age", _MAX_AGE.encode()),
            ]
        if not self.any_origin:
            raw.append((b"vary", b"Origin"))
        await send({"type": "http.response.start", "status": 204, "headers": raw})
        await send({"type": "http.response.body", "body": b""})

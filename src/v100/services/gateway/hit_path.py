"""Fresh cache hits answered as soon as a request's headers are parsed, before any ASGI machinery
(issue 3's throughput figure). ``HitPathProtocol`` is uvicorn's httptools protocol with one
extra step: a GET or HEAD whose caller, tier, rate-limit decision and cache entry are all known
in this process is answered by ``HitPath`` with the very bytes the middleware stack would send;
every other request, and every doubt, takes the full path unchanged.

What the full path adds and the hit path reproduces: the entry's headers with ``Age`` and
``Cache-Status`` (or a 304), the ``RateLimit-*`` headers, ``Server-Timing`` (``gw``, ``auth``,
``ratelimit``), ``X-Request-Id``, and the metrics (requests, processing time, cache hits,
limiter decisions) and access log. The test ``test_hit_path.py`` compares both paths' answers.
"""

from __future__ import annotations

import http
import os
import re
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from v100.kit.http import RequestContextMiddleware
from v100.kit.observability import get_logger
from v100.services.gateway.authn import AuthenticationMiddleware
from v100.services.gateway.compression import CompressionMiddleware, compressible_type
from v100.services.gateway.limits import RateLimitMiddleware
from v100.services.gateway.response_cache import ResponseCacheMiddleware
from v100.services.gateway.timing import ServerTimingMiddleware

__all__ = ["HitPath", "HitPathProtocol"]

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
_STATUS_LINES = {
    s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in http.HTTPStatus
}
# A request with a body is never a cache hit worth short-cutting.
_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})
_access_log = get_logger("v100.access")


def _ms(seconds: float) -> bytes:
    return b"%.3f" % (seconds * 1000)


class HitPath:
    """Finds the gateway's middleware in the app's built stack on first use (the stack is
    built when the app starts), then answers what it can. Created by ``create_app`` and kept
    at ``app.state.hit_path``."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._bound = False
        self.enabled = False
        self.answered = 0  # requests answered here, not by the full path
        self.context: RequestContextMiddleware | None = None
        self.timing: ServerTimingMiddleware | None = None
        self.compression: CompressionMiddleware | None = None
        self.authentication: AuthenticationMiddleware | None = None
        self.limits: RateLimitMiddleware | None = None
        self.cache: ResponseCacheMiddleware | None = None

    def _bind(self) -> bool:
        stack = getattr(self._app, "middleware_stack", None)
        if stack is None:
            return False  # not started yet
        self._bound = True
        layer, depth = stack, 0
        while layer is not None and depth < 64:
            for name, kind in (
                ("context", RequestContextMiddleware),
                ("timing", ServerTimingMiddleware),
                ("compression", CompressionMiddleware),
                ("authentication", AuthenticationMiddleware),
                ("limits", RateLimitMiddleware),
                ("cache", ResponseCacheMiddleware),
            ):
                if isinstance(layer, kind):
                    setattr(self, name, layer)
            layer, depth = getattr(layer, "app", None), depth + 1
        # Without any of them the answer would not be the full path's: stay off.
        self.enabled = None not in (
            self.context,
            self.timing,
            self.authentication,
            self.limits,
            self.cache,
        )
        return self.enabled

    def answer(
        self, method: bytes, url: bytes, headers: list[tuple[bytes, bytes]], date: bytes
    ) -> bytes | None:
        """The whole HTTP/1.1 answer to a GET or HEAD, or None for the full path."""
        started = time.perf_counter()
        if not self._bound and not self._bind():
            return None
        if not self.enabled or not url.startswith(b"/"):
            return None
        raw_path, _, query = url.partition(b"?")
        if b"%" in raw_path:
            return None  # percent-decoding and its edge cases stay with the full path
        path = raw_path.decode("latin-1")
        authentication, limits, cache, context, timing = (
            self.authentication,
            self.limits,
            self.cache,
            self.context,
            self.timing,
        )
        assert authentication is not None
        assert limits is not None
        assert cache is not None
        assert context is not None
        assert timing is not None
        if path in authentication.public_paths:
            return None
        request_id: bytes | None = None
        accept_encoding = False
        for name, value in headers:
            if name in _BODY_HEADERS:
                return None
            if name == b"x-request-id" and request_id is None:
                request_id = value if _REQUEST_ID.match(value) else None
            elif name == b"accept-encoding":
                accept_encoding = True
        principal = authentication.authenticator.principal_now(headers)
        if principal is None:
            return None
        authenticated = time.perf_counter()
        principal = limits.tiered_now(principal)
        if principal is None:
            return None
        hit = cache.hit_now(path, raw_path, query, headers, principal)
        if hit is None:
            return None
        entry = hit.entry
        if (
            accept_encoding
            and self.compression is not None
            and compressible_type(entry.status, entry.headers, self.compression.min_bytes)
        ):
            return None  # it would be compressed (or at least marked Vary): full path
        limited = limits.admit_now(principal, path, method.decode("latin-1"))
        if limited is None:
            return None
        status, answer_headers, body = hit.serve(method == b"HEAD")
        self.answered += 1
        request_id = request_id or os.urandom(16).hex().encode()

        parts = [_STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status, date]
        server_timing = b""
        has_length = False
        for name, value in (*answer_headers, *limited):
            if name == b"server-timing":
                server_timing += b", " + value
                continue
            if name == b"content-length":
                has_length = True
            parts.append(name + b": " + value + b"\r\n")
        if not has_length and status not in (204, 304):
            parts.append(b"content-length: %d\r\n" % len(body))
        route = hit.route.path
        gateway = time.perf_counter() - started
        parts.append(
            b"server-timing: gw;dur="
            + _ms(gateway)
            + b", auth;dur="
            + _ms(authenticated - started)
            + server_timing
            + b"\r\nx-request-id: "
            + request_id
            + b"\r\n\r\n"
        )
        parts.append(body)
        traffic = timing.traffic.metrics if timing.traffic is not None else None
        if traffic is not None:
            traffic.observe_processing(route, gateway)
        elapsed = time.perf_counter() - started
        context.metrics.observe(method.decode("latin-1"), route, status, elapsed)
        if context.access_log:
            _access_log.info(
                "request",
                method=method.decode("latin-1"),
                path=path,
                status=status,
                ms=round(elapsed * 1000, 2),
            )
        return b"".join(parts)


class _Answered:
    """Stands in for uvicorn's request cycle once the hit path has answered: complete, so the
    parser callbacks that follow (``on_body``, ``on_message_complete``) ignore the request."""

    response_complete = True
    disconnected = False
    keep_alive = True

    class message_event:
        @staticmethod
        def set() -> None:
            return None


_ANSWERED: Any = _Answered()


class HitPathProtocol(HttpToolsProtocol):
    """Used by the server when the app has ``state.hit_path`` (``kit.http.server_config``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        state = getattr(self.config.app, "state", None)
        self.hit_path: HitPath | None = getattr(state, "hit_path", None)

    def on_headers_complete(self) -> None:
        hit_path = self.hit_path
        cycle = self.cycle
        parser = self.parser
        if (
            hit_path is not None
            and (cycle is None or cycle.response_complete)
            and not self.pipeline
            and parser.get_http_version() == "1.1"
            and parser.should_keep_alive()
            and not parser.should_upgrade()
        ):
            method = parser.get_method()
            if method == b"GET" or method == b"HEAD":
                date = b"".join(
                    name + b": " + value + b"\r\n"
                    for name, value in self.server_state.default_headers
                )
                answer = hit_path.answer(method, self.url, self.headers, date)
                if answer is not None:
                    self.cycle = _ANSWERED
                    self.transport.write(answer)
                    self.on_response_complete()
                    return
        super().on_headers_complete()

"""Fresh cache hits answered as soon as a request's headers are parsed, before any ASGI machinery
(issue 3's throughput figure). ``HitPathProtocol`` is uvicorn's httptools protocol with one
extra step: a GET or HEAD whose caller, tier, rate-limit decision and cache entry are all known
in this process is answered by ``HitPath`` with the very bytes the middleware stack would send;
every other request, and every doubt, takes the full path unchanged.

What the full path adds and the hit path reproduces: the entry's headers with ``Age`` and
``Cache-Status`` (or a 304), the ``RateLimit-*`` headers, ``Server-Timing`` (``gw``, ``auth``,
``ratelimit``), ``X-Request-Id``, and the metrics (requests, processing time, cache hits,
limiter decisions: tallied by ``hit_metrics.py``, folded in before each scrape) and access log.
The test ``test_hit_path.py`` compares both paths' answers. Each request here costs about a
third of what it did at first (docs/adr/0018-gateway-hit-path.md has the figures).
"""

from __future__ import annotations

import http
import itertools
import logging
import os
import re
from time import perf_counter
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from v100.kit.http import RequestContextMiddleware
from v100.kit.observability import get_logger
from v100.services.gateway.authn import AuthenticationMiddleware
from v100.services.gateway.compression import CompressionMiddleware, compressible_type
from v100.services.gateway.hit_metrics import HitMetrics, Metrics
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


# Server-Timing (milliseconds) as the full path writes it, up to the request id's value.
_TIMINGS = b"server-timing: gw;dur=%.3f, auth;dur=%.3f\r\nx-request-id: "
_TIMINGS_LIMITED = (
    b"server-timing: gw;dur=%.3f, auth;dur=%.3f, ratelimit;dur=%.3f\r\nx-request-id: "
)


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
        self.metrics = HitMetrics(self._metrics)
        self._defaults: list[tuple[bytes, bytes]] | None = None
        self._default_lines = b""

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
        if self.enabled:
            assert self.context is not None
            self.context.metrics.registry.before_collect.append(self.metrics.fold)
        return self.enabled

    def _metrics(self) -> Metrics:
        assert self.context is not None
        assert self.timing is not None
        assert self.cache is not None
        assert self.limits is not None
        traffic = self.timing.traffic
        return (
            self.context.metrics,
            traffic.metrics if traffic is not None else None,
            self.cache.metrics,
            self.limits.limiter.metrics,
        )

    def default_lines(self, defaults: list[tuple[bytes, bytes]]) -> bytes:
        """The server's default headers (Date, and Server if on) as header lines, joined once
        per list: the server replaces the list when its Date changes, once a second."""
        if defaults is not self._defaults:
            self._defaults = defaults
            self._default_lines = b"".join(
                name + b": " + value + b"\r\n" for name, value in defaults
            )
        return self._default_lines

    def answer(
        self, method: bytes, url: bytes, headers: list[tuple[bytes, bytes]], date: bytes
    ) -> bytes | None:
        """The whole HTTP/1.1 answer to a GET or HEAD, or None for the full path."""
        started = perf_counter()
        if not self._bound and not self._bind():
            return None
        if not self.enabled or not url.startswith(b"/"):
            return None
        raw_path, _, query = url.partition(b"?")
        if b"%" in raw_path:
            return None  # percent-decoding and its edge cases stay with the full path
        path = raw_path.decode("latin-1")
        authentication, limits, cache, context = (
            self.authentication,
            self.limits,
            self.cache,
            self.context,
        )
        assert authentication is not None
        assert limits is not None
        assert cache is not None
        assert context is not None
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
        authenticated = perf_counter()
        principal = limits.tiered_now(principal)
        if principal is None:
            return None
        hit = cache.hit_now(path, query, headers, principal)
        if hit is None:
            return None
        entry = hit.entry
        if (
            accept_encoding
            and self.compression is not None
            and compressible_type(entry.status, entry.headers, self.compression.min_bytes)
        ):
            return None  # it would be compressed (or at least marked Vary): full path
        text_method = "GET" if method == b"GET" else "HEAD"
        rate_limit = b""
        tier = group = None
        limiting = perf_counter()
        if limits.enabled:
            admitted = limits.admit_now(principal, path, text_method)
            if admitted is None:
                return None
            plan, rate_limit = admitted
            tier, group = plan.tier, plan.group
        limited = perf_counter()
        status, lines, body = hit.serve(method == b"HEAD")
        self.answered += 1
        gateway = perf_counter() - started
        if limits.enabled:
            timings = _TIMINGS_LIMITED % (
                gateway * 1000,
                (authenticated - started) * 1000,
                (limited - limiting) * 1000,
            )
        else:
            timings = _TIMINGS % (gateway * 1000, (authenticated - started) * 1000)
        answer = b"".join(
            (
                _STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status,
                date,
                lines,
                rate_limit,
                timings,
                request_id or _request_ids.next(),
                b"\r\n\r\n",
                body,
            )
        )
        elapsed = perf_counter() - started
        self.metrics.record(text_method, hit.route.path, status, tier, group, elapsed, gateway)
        if context.access_log and _access_log.is_enabled_for(logging.INFO):
            _access_log.info(
                "request",
                method=text_method,
                path=path,
                status=status,
                ms=round(elapsed * 1000, 2),
            )
        return answer


class _RequestIds:
    """Request ids for answers whose caller sent none: 32 hex characters like ``uuid4().hex``,
    a random per-process prefix and a counter, so unique without a system call per request
    (``os.urandom`` costs one). A forked child draws a prefix of its own."""

    def __init__(self) -> None:
        self._restart()
        os.register_at_fork(after_in_child=self._restart)

    def _restart(self) -> None:
        self._prefix = os.urandom(8).hex().encode()
        self._counter = itertools.count()

    def next(self) -> bytes:
        return b"%s%016x" % (self._prefix, next(self._counter))


_request_ids = _RequestIds()


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
    """Used by the server when the app has ``state.hit_path`` (``kit.http.server_config``).

    It also arms the keep-alive timer once per idle spell rather than once per answer: uvicorn
    arms a timer after every answer and cancels it when the next request arrives. Here the
    timer stays armed while requests come and go; when it fires, it closes the connection only
    if nothing arrived since its last answer ``timeout_keep_alive`` seconds ago, and otherwise
    waits for the rest of that time, or for the answer of the request in progress."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        state = getattr(self.config.app, "state", None)
        self.hit_path: HitPath | None = getattr(state, "hit_path", None)
        self._idle_since: float | None = None  # loop time of the last answer; None: busy

    def _unset_keepalive_if_required(self) -> None:
        # uvicorn calls this when data arrives: the connection is no longer idle.
        self._idle_since = None

    def on_response_complete(self) -> None:
        # uvicorn's, but for the keep-alive timer.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def timeout_keep_alive_handler(self) -> None:
        self.timeout_keep_alive_task = None
        if self._idle_since is None:
            return  # a request is in progress: its answer arms the timer again
        left = self._idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(
                left, self.timeout_keep_alive_handler
            )
            return
        super().timeout_keep_alive_handler()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

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
                date = hit_path.default_lines(self.server_state.default_headers)
                answer = hit_path.answer(method, self.url, self.headers, date)
                if answer is not None:
                    self.cycle = _ANSWERED
                    self.transport.write(answer)
                    self.on_response_complete()
                    return
        super().on_headers_complete()

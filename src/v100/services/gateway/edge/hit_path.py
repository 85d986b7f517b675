"""Fresh cache hits answered from the bytes of the request as they are read, before the HTTP
parser's callbacks and any ASGI machinery (issue 3's throughput figure). ``HitPathProtocol`` is
uvicorn's httptools protocol with one extra step: a read that holds one whole, strictly formed
HTTP/1.1 GET or HEAD whose caller, tier, rate-limit decision and cache entry are all known in
this process is answered by ``HitPath`` with the very bytes the middleware stack would send;
every other request (split across reads, pipelined, HTTP/1.0, anything unusual), and every
doubt, takes the full path unchanged.

What the full path adds and the hit path reproduces: the entry's headers with ``Age`` and
``Cache-Status`` (or a 304), the ``RateLimit-*`` headers, ``Server-Timing`` (``gw``, ``auth``,
``ratelimit``), ``X-Request-Id``, and the metrics (requests, processing time, cache hits,
limiter decisions: tallied by ``hit_metrics.py``, folded in before each scrape) and access log.
The test ``test_hit_path.py`` compares both paths' answers. Each request here costs about a
third of what it did at first (docs/adr/0018-gateway-hit-path.md has the figures).
"""

from __future__ import annotations

import http
import logging
import re
from dataclasses import dataclass
from functools import partial
from time import perf_counter
from typing import ClassVar

from v100.kit.auth import Principal
from v100.kit.http import MAX_HEADER_COUNT, GuardedHttpProtocol, Runtime
from v100.kit.observability import HttpMetrics, get_logger
from v100.services.gateway.edge.authentication import Authenticates
from v100.services.gateway.edge.cache import (
    EdgeCache,
    RequestKey,
    RequestView,
    serve_from_memory,
)
from v100.services.gateway.edge.compression import compressible_type
from v100.services.gateway.edge.hit_metrics import HitMetrics, Metrics
from v100.services.gateway.edge.limits import Plan, RateLimits
from v100.services.gateway.edge.proxied_path import MAX_READ_BYTES, ProxiedPath
from v100.services.gateway.edge.proxy.upstreams import Route
from v100.services.gateway.edge.remembered import Remembered
from v100.services.gateway.edge.request_ids import REQUEST_ID, request_ids
from v100.services.gateway.edge.timing import HasTrafficMetrics

__all__ = ["HitPath", "HitPathProtocol"]

_STATUS_LINES = {
    s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in http.HTTPStatus
}
# A request with a body is never a cache hit worth short-cutting.
_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})
# One whole HTTP/1.1 GET or HEAD and nothing after it, strictly formed (RFC 9112): an
# origin-form target of visible characters, field names that are tokens, values of visible
# characters, spaces and tabs. Anything else (a partial or pipelined read, HTTP/1.0, obsolete
# line folding, a malformed request) goes to httptools and uvicorn as usual.
_WHOLE_REQUEST = re.compile(
    rb"(GET|HEAD) (/[!-~]*) HTTP/1\.1\r\n"
    rb"((?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t -~\x80-\xff]*\r\n)*)\r\n"
)
# Reads longer than this are never taken for a hit (nor remembered).
_MAX_REQUEST_BYTES = 8192
# Fields whose handling is the parser's and uvicorn's (connection management, 100-continue),
# but for ``Connection: keep-alive``, which HTTP/1.1 implies.
_PARSER_HEADERS = frozenset({b"connection", b"upgrade", b"expect"})
_access_log = get_logger("v100.access")


# Server-Timing (milliseconds) as the full path writes it, up to the request id's value.
_TIMINGS = b"server-timing: gw;dur=%.3f, auth;dur=%.3f\r\nx-request-id: "
_TIMINGS_LIMITED = (
    b"server-timing: gw;dur=%.3f, auth;dur=%.3f, ratelimit;dur=%.3f\r\nx-request-id: "
)


class HitPath:
    """Answers what it can from the objects ``create_app`` built once and also handed to the
    middleware: the authenticator, the rate limits (tier source and limiter), the response
    cache and, at startup, the metrics. Off until ``start`` (a startup hook) has run."""

    def __init__(
        self,
        *,
        authenticator: Authenticates,
        public_paths: frozenset[str],
        limits: RateLimits,
        cache: EdgeCache,
        traffic: HasTrafficMetrics,
        compression_min_bytes: int | None,
        access_log: bool = True,
    ) -> None:
        self.authenticator = authenticator
        self.public_paths = public_paths
        self.limits = limits
        self.cache = cache
        self.traffic = traffic
        # None: compression is off, so no answer would be compressed.
        self.compression_min_bytes = compression_min_bytes
        self.access_log = access_log
        self.enabled = False
        self.answered = 0  # requests answered here, not by the full path
        self.http_metrics: HttpMetrics | None = None
        self.metrics = HitMetrics(self._metrics)
        self._requests: Remembered[_Request | None] = Remembered(self._parse)
        self._defaults: list[tuple[bytes, bytes]] | None = None
        self._default_lines = b""

    async def start(self, runtime: Runtime) -> None:
        """A startup hook, after the cache's and the limits': the metrics of this run, folded
        into its registry before each read."""
        if self.http_metrics is not runtime.metrics:
            self.http_metrics = runtime.metrics
            runtime.metrics.registry.before_collect.append(self.metrics.fold)
        self.enabled = True

    def _metrics(self) -> Metrics:
        assert self.http_metrics is not None
        return (
            self.http_metrics,
            self.traffic.metrics,
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

    def answer(self, request: bytes, date: bytes) -> bytes | None:
        """The whole HTTP/1.1 answer to ``request`` (the bytes of one read, holding one whole
        GET or HEAD), or None for the full path."""
        started = perf_counter()
        if not self.enabled:
            return None
        limits, cache = self.limits, self.cache
        if not cache.ready_now:
            return None
        known = self._requests[request]
        if known is None:
            return None
        # Whether the URL is held as not cacheable is asked first, for the caller seen last:
        # then there is no hit to answer (the proxied path's, which asks who is calling again,
        # or the full path's), and for a hit it need not be asked again below.
        last = known.key
        if last is not None and cache.not_cacheable_now(last):
            return None
        unmarked = last is not None
        principal = self.authenticator.principal_now(known.headers)
        if principal is None:
            return None
        authenticated = perf_counter()
        principal = limits.tiered_now(principal)
        if principal is None:
            return None
        if principal is not known.principal and principal != known.principal:
            known.principal = principal
            known.key = cache.key_of(principal, known.path, known.query)
            unmarked = False  # another key
            if limits.enabled:
                known.plan = limits.plan_now(principal, known.path, known.text_method)
        key = known.key
        assert key is not None  # set with the principal
        entry = cache.fresh_now(key, known.headers, unmarked=unmarked)
        if entry is None:
            return None
        if (
            known.accept_encoding
            and self.compression_min_bytes is not None
            and compressible_type(entry.status, entry.headers, self.compression_min_bytes)
        ):
            return None  # it would be compressed (or at least marked Vary): full path
        rate_limit = b""
        tier = group = None
        limiting = perf_counter()
        if limits.enabled:
            plan = known.plan
            if plan is None:
                return None  # a concurrency cap: the full path's
            admitted = limits.admit_now(plan)
            if admitted is None:
                return None
            rate_limit, tier, group = admitted, plan.tier, plan.group
        limited = perf_counter()
        status, lines, body = serve_from_memory(entry, known.view, known.method == b"HEAD")
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
                known.request_id or request_ids.next(),
                b"\r\n\r\n",
                body,
            )
        )
        elapsed = perf_counter() - started
        self.metrics.record(
            known.text_method, known.route.path, status, tier, group, elapsed, gateway
        )
        if self.access_log and _access_log.is_enabled_for(logging.INFO):
            _access_log.info(
                "request",
                method=known.text_method,
                path=known.path,
                status=status,
                ms=round(elapsed * 1000, 2),
            )
        return answer

    def _parse(self, request: bytes) -> _Request | None:
        whole = _WHOLE_REQUEST.fullmatch(request)
        if whole is None:
            return None
        method, url, fields = whole.groups()
        raw_path, _, query = url.partition(b"?")
        if b"%" in raw_path:
            return None  # percent-decoding and its edge cases stay with the full path
        path = raw_path.decode("latin-1")
        if path in self.public_paths:
            return None
        headers: list[tuple[bytes, bytes]] = []
        request_id: bytes | None = None
        accept_encoding = False
        for line in fields.split(b"\r\n")[:-1]:
            name, _, value = line.partition(b":")
            name, value = name.lower(), value.strip(b" \t")
            if name in _PARSER_HEADERS and (
                name != b"connection" or value.lower() != b"keep-alive"
            ):
                return None
            if name in _BODY_HEADERS or name == b"origin":
                return None  # a body; or a browser's cross-origin call, which CORS answers
            if name == b"x-request-id" and request_id is None:
                request_id = value if REQUEST_ID.match(value) else None
            elif name == b"accept-encoding":
                accept_encoding = True
            headers.append((name, value))
        # RFC 9112's Host rule and the header-count limit are the full path's to answer.
        if len(headers) > MAX_HEADER_COUNT or sum(n == b"host" for n, _ in headers) != 1:
            return None
        cached = self.cache.request_now(path, headers)
        if cached is None:
            return None
        route, view = cached
        text_method = "GET" if method == b"GET" else "HEAD"
        return _Request(
            method, text_method, path, query, headers, request_id, accept_encoding, route, view
        )


@dataclass(slots=True, eq=False)
class _Request:
    """A request as its bytes alone decide it, and what its caller's principal decides (its
    cache key and rate-limit plan), worked out again whenever that principal changes."""

    method: bytes
    text_method: str
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    request_id: bytes | None
    accept_encoding: bool
    route: Route
    view: RequestView
    principal: Principal | None = None
    key: RequestKey | None = None
    plan: Plan | None = None  # with limits on, None: a concurrency cap (the full path's)


class HitPathProtocol(GuardedHttpProtocol):
    """The gateway's server protocol: ``create_app`` names ``HitPathProtocol.serving(hit_path)``
    at ``app.state.http_protocol`` (read by ``kit.http.server_config``).

    It also arms the keep-alive timer once per idle spell rather than once per answer, and
    sends an answer's head and body in one write when they come in one turn of the event loop
    (``kit.http._uvicorn.UvicornProtocol``, where every use of uvicorn's internals lives)."""

    keep_alive_per_idle_spell = True
    coalesce_answer_writes = True

    hit_path: ClassVar[HitPath | None] = None
    proxied_path: ClassVar[ProxiedPath | None] = None

    @classmethod
    def serving(
        cls, hit_path: HitPath | None, proxied_path: ProxiedPath | None = None
    ) -> type[HitPathProtocol]:
        """This protocol with ``hit_path`` and ``proxied_path`` (the server builds one
        protocol per connection)."""
        return type(cls.__name__, (cls,), {"hit_path": hit_path, "proxied_path": proxied_path})

    def data_received(self, data: bytes) -> None:
        # Only at a request's start (else these bytes continue the parser's message: a
        # request smuggled in a header or body), and never on a refused connection.
        if self.between_requests and self.serving_all:
            hit_path = self.hit_path
            if (
                hit_path is not None
                and len(data) <= _MAX_REQUEST_BYTES
                and data.endswith(b"\r\n\r\n")
            ):
                date = hit_path.default_lines(self.default_headers)
                answer = hit_path.answer(data, date)
                if answer is not None:
                    self._disarm_head_timer()  # a whole request, answered
                    self.answered(answer)
                    return
            proxied = self.proxied_path
            if proxied is not None and len(data) <= MAX_READ_BYTES:
                call = proxied.take(data, self.peer, self.url_scheme, self.default_headers)
                if call is not None:
                    self._disarm_head_timer()  # a whole request, taken
                    self.answer_in_task(partial(proxied.answer, call))
                    return
        super().data_received(data)

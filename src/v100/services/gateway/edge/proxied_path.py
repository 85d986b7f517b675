"""Proxied requests taken from the bytes of the request as they are read, as the hit path takes
fresh hits (docs/adr/0028-gateway-rooms-and-lean-proxied-path.md, section 5): a read that holds
one whole, strictly formed HTTP/1.1 request (no body, or a ``Content-Length`` body wholly in the
read) for a service behind the gateway, whose caller, tier and rate-limit decision are known in
this process and that the response cache would forward at once (not a GET or HEAD, the cache
off, or a URL it holds as not cacheable), is sent by the proxy's own code
(``ProxyMiddleware.forward_http``: breaker, in-flight caps, retries, internal token, forwarded
headers) from a task of the server's protocol, without the ASGI request cycle and the middleware
around the proxy. What that middleware adds is added here, by the same code where it is more
than a header: the response cache's bookkeeping (``fetch``), compression
(``CompressionMiddleware.compressing``), ``RateLimit-*``, ``Server-Timing``, ``X-Request-Id``,
the metrics (tallied by ``hit_metrics.py``) and the access log. Every other request, and every
doubt, takes the full path unchanged; ``test_proxied_path.py`` compares both paths' answers."""

from __future__ import annotations

import http
import logging
import re
from asyncio import get_running_loop
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from v100.kit.auth import InternalTokens, Principal
from v100.kit.errors import InternalError
from v100.kit.http import AnswerCycle, Runtime, broken_rule, problem_response
from v100.kit.observability import HttpMetrics, current_request_id, get_logger
from v100.services.gateway.edge.authentication import Authenticates
from v100.services.gateway.edge.cache import EdgeCache, RequestKey, RequestView
from v100.services.gateway.edge.cache._cache import Found
from v100.services.gateway.edge.cache._fetch import CACHE_STATUS_NAME, Ask, Capture
from v100.services.gateway.edge.cache._policy import decide
from v100.services.gateway.edge.compression import CompressionMiddleware, compressible_type
from v100.services.gateway.edge.hit_metrics import HitMetrics, Metrics
from v100.services.gateway.edge.limits import Plan, RateLimits
from v100.services.gateway.edge.proxy.headers import header_block
from v100.services.gateway.edge.proxy.middleware import ProxyMiddleware
from v100.services.gateway.edge.proxy.upstreams import Route, Upstreams
from v100.services.gateway.edge.remembered import Remembered
from v100.services.gateway.edge.request_ids import REQUEST_ID, request_ids
from v100.services.gateway.edge.timing import RequestTiming

__all__ = ["ProxiedPath"]

# One whole HTTP/1.1 request head (RFC 9112, strictly: an origin-form target of visible
# characters, field names that are tokens, values of visible characters, spaces and tabs).
_WHOLE_HEAD = re.compile(
    rb"(GET|HEAD|POST|PUT|PATCH|DELETE) (/[!-~]*) HTTP/1\.1\r\n"
    rb"((?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t -~\x80-\xff]*\r\n)*)\r\n"
)
# Reads longer than this are the parser's (a body larger than one read of the socket).
MAX_READ_BYTES = 65536
_MAX_HEAD_BYTES = 8192
# Connection management and 100-continue are the parser's and uvicorn's (but for
# ``Connection: keep-alive``, which HTTP/1.1 implies); chunked bodies too; a browser's
# cross-origin call is CORS's.
_PARSER_HEADERS = frozenset({b"connection", b"upgrade", b"expect"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_CACHED_METHODS = frozenset({"GET", "HEAD"})
_STATUS_LINES = {
    s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in http.HTTPStatus
}
_SERVER_TIMING = b"server-timing"
# Where the request id goes in the header lines kept per request (no header has NUL bytes).
_ID_MARK = "\x00request-id\x00"
_ID_MARK_BYTES = _ID_MARK.encode()
# The response cache's forward of a URL it holds as not cacheable (``fetch``'s "uri-miss").
_FWD = "uri-miss"
_CACHE_STATUS = (b"cache-status", f"{CACHE_STATUS_NAME}; fwd={_FWD}".encode())
_log = get_logger("v100.access")


@dataclass(slots=True, eq=False)
class _Request:
    """A request as its head's bytes alone decide it, and what its caller's principal decides
    (cache key, rate-limit plan), worked out again when that principal changes."""

    method: str
    path: str
    raw_path: bytes
    query: bytes
    headers: list[tuple[bytes, bytes]]
    request_id: str | None
    length: int
    route: Route
    view: RequestView | None  # the response cache's view, when it is in the loop
    principal: Principal | None = None
    key: RequestKey | None = None
    plan: Plan | None = None
    # The header lines the service receives, around the request id, and what they were made
    # for: (authorization, the caller's address, scheme, lines before, lines after).
    forwarded: tuple[str | None, str | None, str, bytes, bytes] | None = None


@dataclass(slots=True, eq=False)
class _Call:
    """One request taken: what was decided when its bytes were read."""

    known: _Request
    principal: Principal
    body: bytes
    client: tuple[str, int] | None
    scheme: str
    defaults: bytes  # the server's Date (and Server) lines
    started: float
    authenticated: float
    admitted: list[tuple[bytes, bytes]] | None  # RateLimit-* and the limiter's Server-Timing
    tier: str | None
    group: str | None


class ProxiedPath:
    """Takes what it can, with the objects ``create_app`` built once and also handed to the
    middleware. Off until ``start`` (a startup hook, after the hit path's) has run."""

    def __init__(
        self,
        *,
        authenticator: Authenticates,
        public_paths: frozenset[str],
        public_prefixes: tuple[str, ...],
        limits: RateLimits,
        cache: EdgeCache,
        upstreams: Upstreams,
        proxy: ProxyMiddleware,
        compression: CompressionMiddleware | None,
        max_body_bytes: int,
        access_log: bool = True,
    ) -> None:
        self.authenticator = authenticator
        self.public_paths = public_paths
        self.public_prefixes = public_prefixes
        self.limits = limits
        self.cache = cache
        self.upstreams = upstreams
        self.proxy = proxy
        self.compression = compression
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log
        self.enabled = False
        self.taken = 0  # requests taken here, not by the full path
        self.http_metrics: HttpMetrics | None = None
        self.tokens: InternalTokens | None = None
        self.metrics = HitMetrics(self._metrics)
        self._requests: Remembered[_Request | None] = Remembered(self._parse)
        self._defaults: list[tuple[bytes, bytes]] | None = None
        self._default_lines = b""

    async def start(self, runtime: Runtime) -> None:
        """A startup hook: the metrics of this run (folded before each read) and its tokens."""
        if self.http_metrics is not runtime.metrics:
            self.http_metrics = runtime.metrics
            runtime.metrics.registry.before_collect.append(self.metrics.fold)
        self.tokens = runtime.tokens
        self.enabled = True

    def _metrics(self) -> Metrics:
        assert self.http_metrics is not None
        return (
            self.http_metrics,
            self.upstreams.metrics,
            self.cache.metrics,
            self.limits.limiter.metrics,
        )

    # --- deciding, from the read ---------------------------------------------------------

    def take(
        self,
        data: bytes,
        client: tuple[str, int] | None,
        scheme: str,
        defaults: list[tuple[bytes, bytes]],
    ) -> _Call | None:
        """The request in ``data`` (one read, the parser holding nothing) with everything that
        decides its way known now; None for the full path. A request taken has been admitted
        by the limits: it must be answered (``answer``)."""
        started = perf_counter()
        if not self.enabled:
            return None
        end = data.find(b"\r\n\r\n") + 4
        if end < 4 or end > _MAX_HEAD_BYTES:
            return None
        head = data if end == len(data) else data[:end]
        known = self._requests[head]
        if known is None or len(data) - end != known.length:
            return None  # the parser's: a body not whole in this read, or more after it
        principal = self.authenticator.principal_now(known.headers)
        if principal is None:
            return None
        authenticated = perf_counter()
        limits, cache = self.limits, self.cache
        principal = limits.tiered_now(principal)
        if principal is None:
            return None
        if principal is not known.principal and principal != known.principal:
            known.principal = principal
            if known.view is not None:
                known.key = cache.key_of(principal, known.path, known.query)
            if limits.enabled:
                known.plan = limits.plan_now(principal, known.path, known.method)
        if known.view is not None:
            key = known.key
            assert key is not None  # set with the principal
            if not cache.ready_now or not cache.not_cacheable_now(key):
                return None  # the cache may answer, or wait for another's fetch: full path
        admitted = None
        tier = group = None
        if limits.enabled:
            plan = known.plan
            if plan is None:
                return None  # a concurrency cap: the full path's
            admitted = limits.admit_headers_now(plan)
            if admitted is None:
                return None
            admitted.append((_SERVER_TIMING, b"ratelimit;dur=%.3f" % _ms(authenticated)))
            tier, group = plan.tier, plan.group
        self.taken += 1
        return _Call(
            known,
            principal,
            data[end:],
            client,
            scheme,
            self._lines(defaults),
            started,
            authenticated,
            admitted,
            tier,
            group,
        )

    def _lines(self, defaults: list[tuple[bytes, bytes]]) -> bytes:
        # The server replaces the list when its Date changes, once a second.
        if defaults is not self._defaults:
            self._defaults = defaults
            self._default_lines = b"".join(n + b": " + v + b"\r\n" for n, v in defaults)
        return self._default_lines

    def _parse(self, head: bytes) -> _Request | None:
        whole = _WHOLE_HEAD.fullmatch(head)
        if whole is None:
            return None
        method_bytes, url, fields = whole.groups()
        raw_path, _, query = url.partition(b"?")
        if b"%" in raw_path:
            return None  # percent-decoding and its edge cases stay with the full path
        path = raw_path.decode("latin-1")
        if path in self.public_paths or path.startswith(self.public_prefixes):
            return None  # no caller to know: the full path forwards it as it is
        route = self.upstreams.route(path)
        if route is None:
            return None
        method = method_bytes.decode()
        headers: list[tuple[bytes, bytes]] = []
        request_id: str | None = None
        seen_id = False
        length: int | None = None
        for line in fields.split(b"\r\n")[:-1]:
            name, _, value = line.partition(b":")
            name, value = name.lower(), value.strip(b" \t")
            if name in _PARSER_HEADERS and (
                name != b"connection" or value.lower() != b"keep-alive"
            ):
                return None
            if name == b"transfer-encoding" or name == b"origin":
                return None
            if name == b"content-length":
                if length is not None or not value.isdigit():
                    return None  # two lengths, or a malformed one: the parser refuses it
                length = int(value)
            elif name == b"x-request-id" and not seen_id:
                seen_id = True  # the first one counts, as in the kit's middleware
                request_id = value.decode() if REQUEST_ID.match(value) else None
            headers.append((name, value))
        length = length or 0
        if (length and method not in _BODY_METHODS) or length > self.max_body_bytes:
            return None
        if broken_rule({"headers": headers, "http_version": "1.1"}) is not None:
            return None  # the full path's refusal
        view = None
        cache = self.cache
        if method in _CACHED_METHODS and cache.enabled:
            cached = cache.request_now(path, headers)
            if cached is None:
                return None  # bypassed by the caller: the full path stamps it
            view = cached[1]
        return _Request(method, path, raw_path, query, headers, request_id, length, route, view)

    # --- answering, in a task of the protocol ------------------------------------------------

    async def answer(self, call: _Call, cycle: AnswerCycle) -> None:
        """Forward ``call`` and write its answer through ``cycle``."""
        known = call.known
        request_id = known.request_id or request_ids.next().decode()
        context = current_request_id.set(request_id)
        timing = RequestTiming(call.started)
        timing.auth = call.authenticated - call.started
        route = known.route
        scope: Scope = {
            "type": "http",
            "http_version": "1.1",
            "method": known.method,
            "scheme": call.scheme,
            "path": known.path,
            "raw_path": known.raw_path,
            "query_string": known.query,
            "root_path": "",
            "headers": known.headers,
            "client": call.client,
            "route": route,
            "state": {
                "principal": call.principal,
                "request_id": request_id,
                "server_timing": timing,
            },
        }
        answer = _Answer(self, call, cycle, scope, timing, request_id)
        try:
            await self._forward(scope, answer.receive, answer.send, known)
            capture = answer.capture
            if capture is not None:
                await capture.end()  # an answer that became cacheable: stored, then answered
        except Exception as exc:
            # As the kit's request-context middleware: logged once, a 500 if nothing went out.
            _log.error("unhandled error", path=known.path, exc_info=exc)
            if not answer.started:
                error = InternalError("An unexpected error occurred.")
                await problem_response(error, known.path)(scope, answer.receive, answer.write)
        finally:
            answer.end()
            elapsed = perf_counter() - call.started
            self.metrics.record(
                known.method,
                route.path,
                answer.status,
                call.tier,
                call.group,
                elapsed,
                answer.gateway,
                "miss" if known.view is not None else None,
            )
            if self.access_log and _log.is_enabled_for(logging.INFO):
                _log.info(
                    "request",
                    method=known.method,
                    path=known.path,
                    status=answer.status,
                    ms=round(elapsed * 1000, 2),
                )
            current_request_id.reset(context)

    async def _forward(self, scope: Scope, receive: Receive, send: Send, known: _Request) -> None:
        state = scope["state"]
        tokens = self.tokens
        assert tokens is not None  # started
        authorization = self.upstreams.bearer(tokens, state["principal"])
        client = scope["client"]
        host = client[0] if client else None
        scheme = scope["scheme"]
        forwarded = known.forwarded
        if (
            forwarded is None
            or forwarded[0] != authorization
            or forwarded[1] != host
            or forwarded[2] != scheme
        ):
            # The proxy's own header lines, made once per request, caller and token, with a
            # mark where each request's id goes.
            lines = header_block(
                self.proxy.forwarded({**scope, "state": {"request_id": _ID_MARK}}, authorization)
            )
            before, _, after = lines.partition(_ID_MARK_BYTES)
            forwarded = known.forwarded = (authorization, host, scheme, before, after)
        block = forwarded[3] + state["request_id"].encode("latin-1") + forwarded[4]
        await self.proxy.forward_http(scope, receive, send, scope["route"], authorization, block)


def _ms(since: float) -> float:
    return (perf_counter() - since) * 1000


class _Answer:
    """The answer on its way out, through what the middleware around the proxy would do to it,
    in their order: the response cache's bookkeeping (a decision on the answer's head: a URL
    still not cacheable has its mark renewed and passes with its ``Cache-Status``; one that
    became cacheable goes through the cache's own ``Capture``, stored, then answered from the
    entry), ``RateLimit-*``, compression (``CompressionMiddleware.compressing``, only for an
    answer it would touch), then, as the outer middleware and uvicorn would write it, the merged
    ``Server-Timing`` (``ServerTimingMiddleware``), ``X-Request-Id`` and uvicorn's framing
    (Content-Length, else chunked), in one write when it comes whole."""

    __slots__ = (
        "_body",
        "_call",
        "_chunked",
        "_compressing",
        "_cycle",
        "_detour",
        "_epoch",
        "_head",
        "_left",
        "_path",
        "_request_id",
        "_scope",
        "_timing",
        "capture",
        "complete",
        "gateway",
        "started",
        "status",
    )

    def __init__(
        self,
        path: ProxiedPath,
        call: _Call,
        cycle: AnswerCycle,
        scope: Scope,
        timing: RequestTiming,
        request_id: str,
    ) -> None:
        self._path = path
        self._call = call
        self._cycle = cycle
        self._scope = scope
        self._timing = timing
        self._request_id = request_id
        self._body: bytes | None = call.body
        self._head: bytes | None = None  # built, not written yet
        self._chunked = False
        self._left = 0  # Content-Length bytes still to come
        # Where the messages go past the answer's start, when not straight to ``write``.
        self._detour: Send | None = None
        self._compressing: Send | None = None
        known = call.known
        # The cache's invalidation epoch when the request came (what ``fetch``'s Ask holds).
        self._epoch = (
            path.cache.cache.epoch(known.key.tenant)
            if known.view is not None and known.key is not None
            else None
        )
        self.capture: Capture | None = None  # an answer the cache stores
        self.status = 500  # what the kit's middleware records when nothing was sent
        self.gateway = 0.0
        self.started = False
        self.complete = False

    async def receive(self) -> Message:
        body = self._body
        if body is not None:
            self._body = None
            return {"type": "http.request", "body": body, "more_body": False}
        await self._cycle.disconnect()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        """The proxy's ``send``."""
        detour = self._detour
        if detour is None and message["type"] == "http.response.start":
            detour = self._on_start(message)
        if detour is not None:
            await detour(message)
        else:
            await self.write(message)

    def _on_start(self, message: Message) -> Send | None:
        """The cache's, the limits' and compression's part in the answer's start: where it and
        what follows go (None: straight to ``write``)."""
        known = self._call.known
        if known.view is not None:
            path = self._path
            cache, metrics, key = path.cache, path.cache.metrics, known.key
            assert metrics is not None  # started
            assert key is not None  # set with the principal
            if known.method != "HEAD":
                config = cache.cache.config
                decision = decide(
                    message["status"],
                    message.get("headers", ()),
                    authenticated=True,
                    max_ttl=config.max_ttl_seconds,
                    max_body=config.max_body_bytes,
                )
                if decision.storable:
                    # Cacheable now: the cache's own capture takes the answer (and decides
                    # again), then ``end`` stores it and answers from the entry.
                    assert self._epoch is not None
                    ask = Ask(
                        key,
                        known.view,
                        known.headers,
                        known.route.path,
                        authenticated=True,
                        epoch=self._epoch,
                    )
                    found = Found()
                    found.not_cacheable = True
                    self.capture = Capture(
                        cache.cache, metrics, self._after_cache, ask, found, _FWD
                    )
                    self._detour = self.capture.send
                    return self._detour
                metrics.not_stored_because(known.route.path, decision.reason)
                cache.cache.mark_not_cacheable(key)
            message["headers"] = [*message.get("headers", ()), _CACHE_STATUS]
        self._detour = self._limits_and_compression(message)
        return self._detour

    def _limits_and_compression(self, message: Message) -> Send | None:
        admitted = self._call.admitted
        if admitted is not None:
            message["headers"] = RateLimits.with_admitted(message.get("headers", ()), admitted)
        compression = self._path.compression
        if compression is not None and (
            compressible_type(message["status"], message.get("headers", ()), compression.min_bytes)
            is not None
        ):
            self._compressing = compression.compressing(self._scope, self.write)
        return self._compressing

    async def _after_cache(self, message: Message) -> None:
        """Where the cache's capture sends: the limits, compression, ``write``."""
        compressing = self._compressing
        if compressing is None and message["type"] == "http.response.start":
            compressing = self._limits_and_compression(message)
        if compressing is not None:
            await compressing(message)
        else:
            await self.write(message)

    async def write(self, message: Message) -> None:
        """uvicorn's part: the answer's bytes to the caller."""
        cycle = self._cycle
        if cycle.disconnected or self.complete:
            return
        if message["type"] == "http.response.start":
            if self.started:
                raise RuntimeError("Expected ASGI message 'http.response.body'.")
            self.started = True
            self.status = status = message["status"]
            self._head = self._head_of(status, message.get("headers", ()), cycle.keep_alive)
            # The head leaves with the first body if it comes in this turn of the loop (one
            # write), else at the turn's end: a stream (an event stream waiting for its first
            # event) has its head at once, as on the full path.
            get_running_loop().call_soon(self._flush_head)
            return
        if not self.started:
            raise RuntimeError("Expected ASGI message 'http.response.start'.")
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        if self._call.known.method == "HEAD":
            data = b""
        elif self._chunked:
            data = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
            if not more:
                data += b"0\r\n\r\n"
        else:
            self._left -= len(body)
            if self._left < 0:
                raise RuntimeError("Response content longer than Content-Length")
            data = body
        head = self._head
        if head is not None:
            self._head = None
            data = head + data
        else:
            await cycle.drain()
        if data:
            cycle.write(data)
        if not more:
            if self._left and not self._chunked and self._call.known.method != "HEAD":
                raise RuntimeError("Response content shorter than Content-Length")
            self.complete = True

    def _flush_head(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._cycle.write(head)

    def _head_of(self, status: int, headers: Any, keep_alive: bool) -> bytes:
        timing = self._timing
        self.gateway = gateway = perf_counter() - timing.started - timing.upstream
        value = b"gw;dur=%.3f" % (gateway * 1000)
        if timing.upstream:
            value += b", upstream;dur=%.3f" % (timing.upstream * 1000)
        if timing.auth is not None:
            value += b", auth;dur=%.3f" % (timing.auth * 1000)
        lines = [_STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status, self._call.defaults]
        chunked: bool | None = None
        close = False
        # Names are lower-case (ASGI's rule for an answer's headers, kept by all that answers
        # here: the proxy, Starlette's problem answers, the cache and compression).
        for name, field in headers:
            if name == _SERVER_TIMING:
                value += b", " + field
                continue
            if name == b"content-length" and chunked is None:
                self._left = int(field.decode())
                chunked = False
            elif name == b"transfer-encoding" and field.lower() == b"chunked":
                self._left, chunked = 0, True
            elif name == b"connection" and b"close" in [
                token.lower().strip() for token in field.split(b",")
            ]:
                self._cycle.keep_alive = keep_alive = False
                close = True
            lines.append(name + b": " + field + b"\r\n")
        lines.append(b"server-timing: " + value + b"\r\nx-request-id: ")
        lines.append(self._request_id.encode() + b"\r\n")
        if not keep_alive and not close:
            lines.append(b"connection: close\r\n")
        if chunked is None and self._call.known.method != "HEAD" and status not in (204, 304):
            chunked = True
            lines.append(b"transfer-encoding: chunked\r\n")
        self._chunked = bool(chunked)
        lines.append(b"\r\n")
        return b"".join(lines)

    def end(self) -> None:
        """After the proxy returned: the connection goes on, or closes as uvicorn closes it
        after an answer that broke off."""
        cycle = self._cycle
        if self.complete:
            cycle.finish()
            return
        if not self.started and not cycle.disconnected:
            # uvicorn's answer to an app that returned without answering.
            cycle.keep_alive = False
            cycle.write(
                b"HTTP/1.1 500 Internal Server Error\r\n" + self._call.defaults
                + b"content-type: text/plain; charset=utf-8\r\ncontent-length: 21\r\n"
                b"connection: close\r\n\r\nInternal Server Error"
            )  # fmt: skip
            cycle.finish()
            return
        if self._head is not None:
            cycle.write(self._head)  # uvicorn wrote it at the start
            self._head = None
        cycle.abort()

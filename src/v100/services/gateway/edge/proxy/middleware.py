"""Forwards each public prefix of another service to that service: HTTP with both bodies streamed
through, WebSocket sessions relayed frame by frame. The caller's identity travels as a fresh
internal token (headers: ``proxy_headers``). Each HTTP call passes the upstream's circuit
breaker and in-flight cap first (503 at once, the service left alone, when either says no), is
retried when that is safe (idempotent, nothing of the answer sent yet, a body still held, after
a connect error or a 502/503, within a budget), and reports its wait to ``Server-Timing``. Pure
ASGI, placed after authentication: this is the gateway's hot path."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from yarl import URL

from v100.kit.auth import InternalTokens, Principal
from v100.kit.errors import ProblemError, RateLimited, RequestTimeout, UpstreamUnavailable
from v100.kit.http import problem_response
from v100.kit.observability import get_logger
from v100.services.gateway.clients import TrustedProxies
from v100.services.gateway.edge.proxy.headers import (
    HOP_BY_HOP,
    forwarded_headers,
    forwarded_raw,
    header_block,
    response_headers,
)
from v100.services.gateway.edge.proxy.upstream_client import (
    Exchange,
    UpstreamBroken,
    UpstreamConnectError,
    UpstreamError,
    UpstreamReadTimeout,
)
from v100.services.gateway.edge.proxy.upstreams import (
    Route,
    Upstream,
    UpstreamFailed,
    Upstreams,
    UpstreamTimeout,
)
from v100.services.gateway.edge.proxy.websocket import relay_websocket
from v100.services.gateway.edge.resilience.breaker import Ticket
from v100.services.gateway.edge.timing import timing_of

__all__ = ["HOP_BY_HOP", "ProxyMiddleware", "forwarded_headers", "response_headers"]

_log = get_logger("v100.proxy")
# RFC 9110 9.2.2; POST and PATCH may do their work twice if sent twice.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_RETRIED_STATUS = frozenset({502, 503})
_FAILED_STATUS = frozenset({502, 503, 504})


class _ClientGone(Exception):
    """The caller disconnected while its body was being forwarded."""


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _ws_target(upstream: Upstream, scope: Scope) -> URL:
    raw_path = scope.get("raw_path") or scope["path"].encode()
    target = upstream.ws_base_url + raw_path.partition(b"?")[0].decode("latin-1")
    query = scope.get("query_string", b"")
    if query:
        target = f"{target}?{query.decode('latin-1')}"
    # Already percent-encoded as the caller sent it: no re-quoting on the way through.
    return URL(target, encoded=True)


class _BodyStalled(Exception):
    """The caller sent nothing of its body for longer than the idle limit."""


async def _next_body_message(receive: Receive, idle: float) -> Message:
    try:
        async with asyncio.timeout(idle):
            return await receive()
    except TimeoutError:
        raise _BodyStalled from None


async def _read_body(receive: Receive, idle: float) -> bytes | None:
    """The whole (small) request body, or None if the caller went away first; ``_BodyStalled``
    when nothing of it came for ``idle`` seconds."""
    parts: list[bytes] = []
    while True:
        message = await _next_body_message(receive, idle)
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


def _stalled(idle: float) -> RequestTimeout:
    return RequestTimeout(f"No part of the request body came for {idle:g} s.")


def _failure_kind(exc: BaseException) -> str | None:
    """How a failed call counts against the upstream: ``connect`` (nothing reached it: safe to
    send again), ``timeout``, ``broken`` (no valid answer); None for a fault of our own."""
    if isinstance(exc, UpstreamConnectError):
        return "connect"
    if isinstance(exc, UpstreamReadTimeout):
        return "timeout"
    if isinstance(exc, UpstreamBroken):
        return "broken"
    return None


def _target(scope: Scope) -> bytes:
    # Already percent-encoded as the caller sent it: passed through byte for byte.
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    path = raw_path.partition(b"?")[0]
    query: bytes = scope.get("query_string", b"")
    return path + b"?" + query if query else path


class ProxyMiddleware:
    """Sends requests on another service's public prefix to that service; everything else goes
    on to the gateway's own routes."""

    def __init__(
        self,
        app: ASGIApp,
        upstreams: Upstreams,
        websocket_max_message_bytes: int = 2**24,
        proxies: TrustedProxies | None = None,
    ) -> None:
        self.app = app
        self.upstreams = upstreams
        self.websocket_max_message_bytes = websocket_max_message_bytes
        self.proxies = proxies or TrustedProxies(())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        route = self.upstreams.route(scope["path"]) if kind in ("http", "websocket") else None
        if route is None:
            await self.app(scope, receive, send)
            return
        # Labels this request's metrics and access log with the route group, not "unmatched".
        scope["route"] = route
        authorization = self._authorization(scope)
        if kind == "http":
            await self.forward_http(scope, receive, send, route, authorization)
        else:
            await relay_websocket(
                scope,
                receive,
                send,
                url=_ws_target(route.upstream, scope),
                headers=forwarded_headers(
                    scope, authorization, trusted_peer=self.proxies.peer_is_trusted(scope)
                ),
                open_timeout=self.upstreams.connect_timeout,
                max_size=self.websocket_max_message_bytes,
            )

    def _authorization(self, scope: Scope) -> str | None:
        # No principal means authentication let the path through as public (a vendor's
        # webhook, say): it is forwarded with no credentials and the service decides.
        state = scope.get("state") or {}
        principal = state.get("principal")
        if not isinstance(principal, Principal):
            # A meeting token the edge let through to its meeting's room goes on as it is.
            meeting_token = state.get("meeting_token")
            return None if meeting_token is None else f"Bearer {meeting_token}"
        tokens: InternalTokens = scope["app"].state.runtime.tokens
        return self.upstreams.bearer(tokens, principal)

    async def forward_http(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route,
        authorization: str | None,
        block: bytes | None = None,
    ) -> None:
        """One HTTP request to ``route``'s service (also the proxied path's, proxied_path.py):
        its body, breaker, in-flight caps, retries, the answer relayed to ``send``. ``block``:
        the request's header lines as ``forwarded_raw`` and ``header_block`` make them, when
        the caller has them already (the proxied path keeps them per request and caller)."""
        upstream = route.upstream
        upstreams = self.upstreams
        # A small body is read whole first, so a caller that sends it slowly holds no
        # connection to the service meanwhile (it holds only its own).
        held: bytes | None = None
        if _has_body(scope):
            length = _content_length(scope)
            # Also a body small enough to keep for a retry (idempotent methods).
            buffered = upstreams.buffer_body_bytes
            if upstreams.retries.attempts and scope["method"] in _IDEMPOTENT:
                buffered = max(buffered, upstreams.retries.max_body_bytes)
            if length is not None and length <= buffered:
                try:
                    held = await _read_body(receive, upstreams.body_idle_seconds)
                except _BodyStalled:
                    self._refused(upstream, "body_stalled")
                    stalled = _stalled(upstreams.body_idle_seconds)
                    await self._send_problem(scope, receive, send, stalled)
                    return
                if held is None:
                    return  # the caller went away
        principal = (scope.get("state") or {}).get("principal")
        tenant = principal.tenant_id if isinstance(principal, Principal) else None
        ticket = upstream.breaker.admit()
        if ticket is None:
            self._refused(upstream, "breaker_open")
            error = UpstreamUnavailable(
                f"The {upstream.name} service is failing; the gateway stopped calling it for "
                "a while (circuit breaker open).",
                retry_after=upstream.breaker.retry_after(),
                extra={"upstream": upstream.name},
            )
            await self._send_problem(scope, receive, send, error)
            return
        if upstream.in_flight >= upstreams.max_in_flight:
            # Fail fast rather than queue: a caller waiting on a saturated pool helps no one.
            upstream.breaker.release(ticket)
            self._refused(upstream, "saturated")
            error = UpstreamUnavailable(
                f"The {upstream.name} service already has {upstreams.max_in_flight} requests "
                "in flight from this gateway, as many as it is sent at once.",
                retry_after=1,
                extra={"upstream": upstream.name},
            )
            await self._send_problem(scope, receive, send, error)
            return
        if tenant is not None:
            mine = upstream.tenants_in_flight.get(tenant, 0)
            if mine >= upstreams.max_tenant_in_flight:
                # This tenant's share is used up: it waits, every other tenant goes on.
                upstream.breaker.release(ticket)
                self._refused(upstream, "tenant_share")
                over_share = RateLimited(
                    f"This tenant already has {mine} requests in flight to the "
                    f"{upstream.name} service, its share of what the gateway sends at once.",
                    retry_after=1,
                    extra={"upstream": upstream.name},
                )
                await self._send_problem(scope, receive, send, over_share)
                return
            upstream.tenants_in_flight[tenant] = mine + 1
        upstream.in_flight += 1
        try:
            await self._exchange(scope, receive, send, route, authorization, ticket, held, block)
        finally:
            upstream.in_flight -= 1
            if tenant is not None:
                left = upstream.tenants_in_flight[tenant] - 1
                if left:
                    upstream.tenants_in_flight[tenant] = left
                else:
                    del upstream.tenants_in_flight[tenant]

    def forwarded(
        self, scope: Scope, authorization: str | None, *, chunked: bool = False
    ) -> list[tuple[bytes, bytes]]:
        """The request headers the service receives (``forwarded_raw``)."""
        raw = forwarded_raw(
            scope,
            authorization,
            identity=self.upstreams.identity_upstream,
            trusted_peer=self.proxies.peer_is_trusted(scope),
        )
        if chunked:
            raw.append((b"transfer-encoding", b"chunked"))
        return raw

    def _refused(self, upstream: Upstream, reason: str) -> None:
        metrics = self.upstreams.metrics
        if metrics is not None:
            metrics.refusals.labels(upstream.name, reason).inc()

    async def _exchange(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route,
        authorization: str | None,
        ticket: Ticket,
        held: bytes | None,
        block: bytes | None = None,
    ) -> None:
        upstreams = self.upstreams
        upstream = route.upstream
        breaker = upstream.breaker
        policy = upstreams.retries
        method: str = scope["method"]
        idle = upstreams.body_idle_seconds
        # A body not read by ``forward_http`` streams through (and is never sent twice).
        streamed = held is None and _has_body(scope)
        retryable = (
            not streamed
            and policy.attempts > 0
            and method in _IDEMPOTENT
            and (held is None or len(held) <= policy.max_body_bytes)
        )
        body_done = not streamed
        client_gone = stalled = False

        async def request_body() -> AsyncIterator[bytes]:
            nonlocal body_done, client_gone, stalled
            while True:
                try:
                    message = await _next_body_message(receive, idle)
                except _BodyStalled:
                    stalled = True
                    raise
                if message["type"] == "http.disconnect":
                    client_gone = True
                    raise _ClientGone
                chunk = message.get("body", b"")
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    body_done = True
                    return

        pool = upstreams.pool(upstream)
        target = _target(scope)
        # A body streamed without a length goes on chunked (the caller's framing stopped here).
        chunked = streamed and _content_length(scope) is None
        if block is None or chunked:
            block = header_block(self.forwarded(scope, authorization, chunked=chunked))
        metrics = upstreams.metrics
        attempt = 0
        pending: Ticket | None = ticket  # admitted, outcome not told to the breaker yet
        response: Exchange | None = None
        error: ProblemError | None = None
        started = time.perf_counter()
        try:
            while True:
                try:
                    response = await pool.request(
                        method,
                        target,
                        block,
                        request_body() if streamed else held,
                        chunked=chunked,
                        replayable=method in _IDEMPOTENT,
                    )
                except Exception as exc:
                    if client_gone:
                        return
                    if stalled:  # the caller's fault, not the service's
                        breaker.release(ticket)
                        pending = None
                        error = _stalled(idle)
                        break
                    kind = _failure_kind(exc)
                    if kind is not None:
                        breaker.record(ticket, False)
                        pending = None
                        if metrics is not None:
                            metrics.failures.labels(upstream.name, kind).inc()
                    if kind == "connect" and retryable:
                        pending = self._retry(upstream, attempt, "connect")
                        if pending is not None:
                            ticket, attempt = pending, attempt + 1
                            await self._back_off(attempt)
                            continue
                    error = _problem_for(upstream, exc)
                    break
                status = response.status
                failed = status in _FAILED_STATUS
                breaker.record(ticket, not failed)
                pending = None
                if failed and metrics is not None:
                    metrics.failures.labels(upstream.name, str(status)).inc()
                if (
                    status in _RETRIED_STATUS
                    and retryable
                    # The service asked to be left alone for a while: sending again now won't do.
                    and response.header(b"retry-after") is None
                ):
                    pending = self._retry(upstream, attempt, str(status))
                    if pending is not None:
                        response.close()  # a failing answer: its connection is not worth keeping
                        ticket, attempt, response = pending, attempt + 1, None
                        await self._back_off(attempt)
                        continue
                break
        finally:
            if pending is not None:  # cancelled, or the caller left: nothing learnt
                breaker.release(pending)
            if attempt:
                upstream.retries_in_flight -= 1
            waited = time.perf_counter() - started
            timing = timing_of(scope)
            if timing is not None:
                timing.upstream += waited
            if metrics is not None:
                metrics.observe_upstream(route.path, waited)
        if response is None:
            if error is not None:
                await self._send_problem(scope, receive, send, error)
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": response_headers(scope, response.headers),
                }
            )
            await self._relay_response_body(response, upstream, receive, send, watch=body_done)
        finally:
            # Fully read: the connection goes back to the pool; otherwise it is dropped.
            response.release()

    def _retry(self, upstream: Upstream, attempt: int, reason: str) -> Ticket | None:
        """A ticket for one more try, or None: out of attempts, over the retry budget, or the
        breaker refuses (never retried into an open breaker)."""
        policy = self.upstreams.retries
        if not policy.within_budget(attempt, upstream.retries_in_flight, upstream.in_flight):
            return None
        ticket = upstream.breaker.admit()
        if ticket is None:
            return None
        if not attempt:
            upstream.retries_in_flight += 1
        metrics = self.upstreams.metrics
        if metrics is not None:
            metrics.retries.labels(upstream.name, reason).inc()
        return ticket

    async def _back_off(self, attempt: int) -> None:
        await asyncio.sleep(self.upstreams.retries.backoff(attempt))

    async def _relay_response_body(
        self, response: Exchange, upstream: Upstream, receive: Receive, send: Send, *, watch: bool
    ) -> None:
        try:
            chunk = await response.read()
        except Exception as exc:
            _log.warning("upstream answer broke off", upstream=upstream.name, error=repr(exc))
            return  # returning mid-answer makes our server drop the connection: no fake end
        if response.at_eof():
            await send({"type": "http.response.body", "body": chunk})
            return
        # A longer body. Our server drops sends to a caller that went away without telling us,
        # so watch for the disconnect and stop reading the upstream then (only once the request
        # body is read: two readers of ``receive`` would steal each other's messages).
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, response, gone)) if watch else None
        try:
            while chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                chunk = await response.read()
        except Exception as exc:
            if not gone.is_set():
                _log.warning("upstream answer broke off", upstream=upstream.name, error=repr(exc))
            return
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
        if not gone.is_set():
            await send({"type": "http.response.body", "body": b""})

    async def _send_problem(
        self, scope: Scope, receive: Receive, send: Send, error: ProblemError
    ) -> None:
        await problem_response(error, scope["path"])(scope, receive, send)


async def _watch_disconnect(receive: Receive, response: Exchange, gone: asyncio.Event) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            response.close()  # wakes the reader above with an error
            return


def _problem_for(upstream: Upstream, exc: BaseException) -> ProblemError:
    where = f"The {upstream.name} service"
    if isinstance(exc, UpstreamConnectError):
        _log.warning("upstream unreachable", upstream=upstream.name, error=str(exc))
        return UpstreamUnavailable(f"{where} is not reachable.", retry_after=1)
    if isinstance(exc, UpstreamReadTimeout):
        _log.warning("upstream timed out", upstream=upstream.name)
        return UpstreamTimeout(f"{where} did not answer in time.")
    if isinstance(exc, UpstreamError):
        _log.warning("upstream failed", upstream=upstream.name, error=str(exc))
        return UpstreamFailed(f"{where} closed the connection without a valid answer.")
    _log.error("proxying failed", upstream=upstream.name, exc_info=exc)
    return UpstreamFailed(f"{where} could not be reached through the gateway.")

"""Forwards each public prefix of another service to that service: HTTP with both bodies streamed
through, WebSocket sessions relayed frame by frame. The caller's identity travels as a fresh
internal token; hop-by-hop headers stop here (RFC 9110 section 7.6.1). Pure ASGI, placed after
authentication: this is the gateway's hot path."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

import aiohttp
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from yarl import URL

from v100.kit.auth import InternalTokens, Principal
from v100.kit.errors import ProblemError, UpstreamUnavailable
from v100.kit.http import problem_response
from v100.kit.observability import get_logger
from v100.services.gateway.upstreams import (
    Route,
    Upstream,
    UpstreamFailed,
    Upstreams,
    UpstreamTimeout,
)
from v100.services.gateway.websocket_proxy import relay_websocket

__all__ = ["HOP_BY_HOP", "ProxyMiddleware", "forwarded_headers", "response_headers"]

# RFC 9110 7.6.1 (plus Trailer, and the Proxy-* pair a proxy consumes): meaningful for one
# connection only, never forwarded in either direction.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"transfer-encoding",
        b"upgrade",
        b"trailer",
        b"proxy-authorization",
        b"proxy-authenticate",
    }
)
# Set by the gateway itself on the way in. Expect is answered by our own server; the client's
# credentials are replaced by the internal token.
_REPLACED_IN = frozenset(
    {
        b"host",
        b"authorization",
        b"x-api-key",
        b"x-request-id",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"via",
        b"expect",
    }
)
# Set by the gateway's own server and middleware on the way out (duplicates otherwise).
_REPLACED_OUT = frozenset({b"date", b"server", b"x-request-id", b"via"})
_VIA_NAME = "v100-gateway"
_log = get_logger("v100.proxy")


class _ClientGone(Exception):
    """The caller disconnected while its body was being forwarded."""


def _connection_named(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """The extra hop-by-hop headers a message names in its Connection header."""
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named.update(token.strip().lower() for token in value.split(b","))
    return frozenset(named)


def _via(scope: Scope, existing: str | None) -> str:
    own = f"{scope.get('http_version', '1.1')} {_VIA_NAME}"
    return f"{existing}, {own}" if existing else own


def forwarded_headers(scope: Scope, authorization: str | None) -> list[tuple[str, str]]:
    """The request headers a service receives: the caller's end-to-end headers, then the
    internal token, request id, ``X-Forwarded-*`` and ``Via``."""
    raw: list[tuple[bytes, bytes]] = scope["headers"]
    named = _connection_named(raw)
    out: list[tuple[str, str]] = []
    forwarded_for: str | None = None
    via: str | None = None
    host: str | None = None
    for name, value in raw:
        if name in HOP_BY_HOP or name in named:
            continue
        if name in _REPLACED_IN:
            if name == b"x-forwarded-for":
                text = value.decode("latin-1")
                forwarded_for = f"{forwarded_for}, {text}" if forwarded_for else text
            elif name == b"via":
                via = value.decode("latin-1")
            elif name == b"host":
                host = value.decode("latin-1")
            continue
        out.append((name.decode("latin-1"), value.decode("latin-1")))
    if authorization is not None:
        out.append(("Authorization", authorization))
    state = scope.get("state") or {}
    request_id = state.get("request_id")
    if request_id:
        out.append(("X-Request-Id", request_id))
    client = scope.get("client")
    if client:
        forwarded_for = f"{forwarded_for}, {client[0]}" if forwarded_for else client[0]
    if forwarded_for:
        out.append(("X-Forwarded-For", forwarded_for))
    secure = scope.get("scheme") in ("https", "wss")
    out.append(("X-Forwarded-Proto", "https" if secure else "http"))
    if host:
        out.append(("X-Forwarded-Host", host))
    out.append(("Via", _via(scope, via)))
    return out


def response_headers(scope: Scope, raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The upstream's answer headers as the caller receives them."""
    raw = tuple(raw)
    named = _connection_named(raw)
    out: list[tuple[bytes, bytes]] = []
    via: str | None = None
    for name, value in raw:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in named:
            continue
        if lower in _REPLACED_OUT:
            if lower == b"via":
                via = value.decode("latin-1")
            continue
        out.append((lower, value))
    out.append((b"via", _via(scope, via).encode("latin-1")))
    return out


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


def _target(upstream: Upstream, scope: Scope, base: str | None = None) -> URL:
    raw_path = scope.get("raw_path") or scope["path"].encode()
    target = (base or upstream.base_url) + raw_path.partition(b"?")[0].decode("latin-1")
    query = scope.get("query_string", b"")
    if query:
        target = f"{target}?{query.decode('latin-1')}"
    # Already percent-encoded as the caller sent it: no re-quoting on the way through.
    return URL(target, encoded=True)


class ProxyMiddleware:
    """Sends requests on another service's public prefix to that service; everything else goes
    on to the gateway's own routes."""

    def __init__(
        self, app: ASGIApp, upstreams: Upstreams, websocket_max_message_bytes: int = 2**24
    ) -> None:
        self.app = app
        self.upstreams = upstreams
        self.websocket_max_message_bytes = websocket_max_message_bytes

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
            await self._forward_http(scope, receive, send, route, authorization)
        else:
            await relay_websocket(
                scope,
                receive,
                send,
                url=_target(route.upstream, scope, route.upstream.ws_base_url),
                headers=forwarded_headers(scope, authorization),
                open_timeout=self.upstreams.connect_timeout,
                max_size=self.websocket_max_message_bytes,
            )

    def _authorization(self, scope: Scope) -> str | None:
        # No principal means authentication let the path through as public (a vendor's
        # webhook, say): it is forwarded with no credentials and the service decides.
        principal = (scope.get("state") or {}).get("principal")
        if not isinstance(principal, Principal):
            return None
        tokens: InternalTokens = scope["app"].state.runtime.tokens
        return self.upstreams.bearer(tokens, principal)

    async def _forward_http(
        self, scope: Scope, receive: Receive, send: Send, route: Route, authorization: str | None
    ) -> None:
        upstream = route.upstream
        body_done = not _has_body(scope)
        client_gone = False

        async def request_body() -> AsyncIterator[bytes]:
            nonlocal body_done, client_gone
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    client_gone = True
                    raise _ClientGone
                chunk = message.get("body", b"")
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    body_done = True
                    return

        try:
            response = await self.upstreams.session(upstream).request(
                scope["method"],
                _target(upstream, scope),
                headers=forwarded_headers(scope, authorization),
                data=None if body_done else request_body(),
                allow_redirects=False,
                compress=None,
            )
        except Exception as exc:
            if client_gone:
                return
            await self._send_problem(scope, receive, send, _problem_for(upstream, exc))
            return

        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": response_headers(scope, response.raw_headers),
                }
            )
            await self._relay_response_body(response, receive, send, watch=body_done)
        finally:
            # Fully read: the connection goes back to the pool; otherwise it is dropped.
            if response.content.at_eof():
                response.release()
            else:
                response.close()

    async def _relay_response_body(
        self, response: aiohttp.ClientResponse, receive: Receive, send: Send, *, watch: bool
    ) -> None:
        content = response.content
        try:
            chunk = await content.readany()
        except Exception as exc:
            _log.warning("upstream answer broke off", url=str(response.url), error=repr(exc))
            return  # returning mid-answer makes our server drop the connection: no fake end
        if content.at_eof():
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
                chunk = await content.readany()
        except Exception as exc:
            if not gone.is_set():
                _log.warning("upstream answer broke off", url=str(response.url), error=repr(exc))
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


async def _watch_disconnect(
    receive: Receive, response: aiohttp.ClientResponse, gone: asyncio.Event
) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            response.close()  # wakes the reader above with an error
            return


def _problem_for(upstream: Upstream, exc: BaseException) -> ProblemError:
    where = f"The {upstream.name} service"
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        _log.warning("upstream unreachable", upstream=upstream.name, error=repr(exc))
        return UpstreamUnavailable(f"{where} is not reachable.", retry_after=1)
    if isinstance(exc, asyncio.TimeoutError):
        _log.warning("upstream timed out", upstream=upstream.name)
        return UpstreamTimeout(f"{where} did not answer in time.")
    if isinstance(exc, aiohttp.ClientError):
        _log.warning("upstream failed", upstream=upstream.name, error=repr(exc))
        return UpstreamFailed(f"{where} closed the connection without a valid answer.")
    _log.error("proxying failed", upstream=upstream.name, exc_info=exc)
    return UpstreamFailed(f"{where} could not be reached through the gateway.")

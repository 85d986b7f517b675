"""Pure ASGI middleware every service runs: request ids, metrics and access logs; the body-size
limit (413 before the app reads too much); and verification of the gateway's internal token."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from v100.kit.auth import InternalTokens
from v100.kit.errors import InternalError, PayloadTooLarge, ProblemError, Unauthorized
from v100.kit.http._problems import problem_response
from v100.kit.observability import HttpMetrics, current_request_id, get_logger

__all__ = ["BodyLimitMiddleware", "InternalAuthMiddleware", "RequestContextMiddleware"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_log = get_logger("v100.access")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _send_problem(scope: Scope, receive: Receive, send: Send, error: ProblemError) -> None:
    await problem_response(error, scope.get("path"))(scope, receive, send)


class RequestContextMiddleware:
    """Gives every request an id (the caller's ``X-Request-Id`` when well-formed), echoes it,
    and records the route template, status and duration."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, *, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        # 32 hex characters like uuid4().hex, at a fraction of its cost on every request.
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else os.urandom(16).hex()
        token = current_request_id.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        response_started = False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", ()))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Answered here rather than by Starlette's ServerErrorMiddleware so the 500 carries
            # the request id; logged once, with the traceback, and not re-raised.
            _log.error("unhandled error", path=scope["path"], exc_info=exc)
            if scope["type"] == "http" and not response_started:
                error = InternalError("An unexpected error occurred.")
                await _send_problem(scope, receive, send_with_id, error)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "WS")
            if scope["type"] == "http":
                self.metrics.observe(method, template, status, elapsed)
            if self.access_log and template not in ("/health", "/ready", "/metrics"):
                _log.info(
                    "request",
                    method=method,
                    path=scope["path"],
                    status=status,
                    ms=round(elapsed * 1000, 2),
                )
            current_request_id.reset(token)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than {limit} bytes.")


class BodyLimitMiddleware:
    """Refuses bodies above a limit with 413, by Content-Length up front or while streaming.
    ``limits`` maps path prefixes to their own limit (uploads take more than JSON calls)."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limits = sorted((limits or {}).items(), key=lambda item: -len(item[0]))

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_problem(scope, receive, send, _too_large(limit))
            return

        received = 0
        exceeded = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Tell the app the client went away; we answer 413 ourselves below.
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded and not response_started:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not response_started:
            await _send_problem(scope, receive, send, _too_large(limit))


class InternalAuthMiddleware:
    """Lets a request through only with a valid internal token (``Authorization: Bearer``);
    puts the Principal in ``request.state.principal``. ``public_paths`` (exact) and
    ``public_prefixes`` pass without one; under ``own_token_prefixes`` a bearer that is not an
    internal token passes without a principal, for the route to check as its own token."""

    def __init__(
        self,
        app: ASGIApp,
        tokens: InternalTokens,
        public_paths: Iterable[str],
        public_prefixes: Iterable[str] = (),
        own_token_prefixes: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.public_paths = frozenset(public_paths)
        self.public_prefixes = tuple(public_prefixes)
        self.own_token_prefixes = tuple(own_token_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] not in ("http", "websocket")
            or scope["path"] in self.public_paths
            or (self.public_prefixes and scope["path"].startswith(self.public_prefixes))
        ):
            await self.app(scope, receive, send)
            return
        authorization = _header(scope, b"authorization") or ""
        scheme, _, token = authorization.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token:
                raise Unauthorized("An internal token is required.")
            principal = self.tokens.verify(token.strip())
        except Unauthorized as error:
            if self.own_token_prefixes and scope["path"].startswith(self.own_token_prefixes):
                await self.app(scope, receive, send)
                return
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": "unauthorized"})
                return
            error.headers["WWW-Authenticate"] = "Bearer"
            await _send_problem(scope, receive, send, error)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

"""``Server-Timing`` on every answer of the gateway: its own processing time (``gw``: from the
request's arrival at this middleware to the start of the answer, less the time spent waiting
for the upstream), the upstream's time to answer (``upstream``), the caller's authentication
(``auth``), and what inner middleware reported (the limiter's ``ratelimit``), in one header
field. The same ``gw`` time goes to a histogram per route group. Pure ASGI, outermost of the
gateway's own middleware."""

from __future__ import annotations

import time
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from v100.services.gateway.edge.traffic_metrics import TrafficMetrics

__all__ = [
    "HasTrafficMetrics",
    "RequestTiming",
    "ServerTimingMark",
    "ServerTimingMiddleware",
    "timing_of",
]

_KEY = "server_timing"
_HEADER = b"server-timing"


class RequestTiming:
    """One request's clock, at ``scope["state"]["server_timing"]``; the proxy adds to
    ``upstream`` the time it waits for the upstream's answer to start."""

    __slots__ = ("auth", "started", "upstream")

    def __init__(self, started: float) -> None:
        self.started = started
        self.upstream = 0.0
        self.auth: float | None = None


class HasTrafficMetrics(Protocol):
    @property
    def metrics(self) -> TrafficMetrics | None: ...


def timing_of(scope: Scope) -> RequestTiming | None:
    state = scope.get("state")
    return state.get(_KEY) if state is not None else None


def _ms(seconds: float) -> bytes:
    return b"%.3f" % (seconds * 1000)


class ServerTimingMiddleware:
    """``traffic`` holds the metrics once the app has started (``Upstreams.metrics``)."""

    def __init__(self, app: ASGIApp, traffic: HasTrafficMetrics | None = None) -> None:
        self.app = app
        self.traffic = traffic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        timing = RequestTiming(time.perf_counter())
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state[_KEY] = timing

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                gateway = time.perf_counter() - timing.started - timing.upstream
                value = b"gw;dur=" + _ms(gateway)
                if timing.upstream:
                    value += b", upstream;dur=" + _ms(timing.upstream)
                if timing.auth is not None:
                    value += b", auth;dur=" + _ms(timing.auth)
                headers = []
                # One field for all: what inner middleware or the service added joins ours.
                for name, header in message.get("headers", ()):
                    if name.lower() == _HEADER:
                        value += b", " + header
                    else:
                        headers.append((name, header))
                headers.append((_HEADER, value))
                message["headers"] = headers
                metrics = self.traffic.metrics if self.traffic is not None else None
                if metrics is not None:
                    route = getattr(scope.get("route"), "path", None) or "unmatched"
                    metrics.observe_processing(route, gateway)
            await send(message)

        await self.app(scope, receive, send_with_timing)


class ServerTimingMark:
    """Placed right after authentication: the time from the request's arrival to here is
    reported as ``auth`` when a caller was authenticated (public paths have none)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state")
        if state is not None and "principal" in state:
            timing = state.get(_KEY)
            if timing is not None:
                timing.auth = time.perf_counter() - timing.started
        await self.app(scope, receive, send)

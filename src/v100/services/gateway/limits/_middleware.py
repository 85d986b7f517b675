"""The limits on the request path: a pure ASGI middleware right after authentication. Every
authenticated request is checked against its tenant's and API key's buckets for its route group,
and against the tenant's concurrency cap on expensive routes; over a limit it answers 429
problem+json with ``Retry-After``. Every answer to an authenticated request carries the
``RateLimit-*`` headers of draft-ietf-httpapi-ratelimit-headers."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from v100.kit.auth import Principal
from v100.kit.errors import RateLimited
from v100.kit.http import problem_response
from v100.services.gateway.limits._gcra import MICROS, Decision
from v100.services.gateway.limits._limiter import Limiter
from v100.services.gateway.limits._tiers import Policies, PrincipalTier, TierSource

if TYPE_CHECKING:
    from v100.services.gateway.settings import GatewaySettings

__all__ = ["RateLimitMiddleware", "rate_limit_headers"]

_OURS = frozenset(
    {b"ratelimit-limit", b"ratelimit-remaining", b"ratelimit-reset", b"ratelimit-policy"}
)
_WS_TRY_AGAIN_LATER = 1013
# The messages that carry an answer's headers (the last: a refused WebSocket handshake).
_STARTS = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})


def rate_limit_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    """Limit, Remaining and Reset (delta-seconds until the bucket is full again) of the most
    restrictive limit that applied; Policy lists every limit that applied."""
    binding = decision.binding
    return [
        (b"ratelimit-limit", b"%d" % binding.rate.burst),
        (b"ratelimit-remaining", b"%d" % binding.remaining),
        (b"ratelimit-reset", b"%d" % -(-binding.reset_us // MICROS)),
        (b"ratelimit-policy", ", ".join(s.rate.policy for s in decision.standings).encode()),
    ]


def _timing(started: float) -> tuple[bytes, bytes]:
    # The limiter's own share of the gateway's time, Redis round trip included.
    return (b"server-timing", b"ratelimit;dur=%.3f" % ((time.perf_counter() - started) * 1000))


def _adding(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def send_with_limits(message: Message) -> None:
        if message["type"] in _STARTS:
            # The gateway's limits are the ones a caller deals with; a service's own
            # RateLimit-* headers would make a second, contradicting set.
            headers = [
                (name, value)
                for name, value in message.get("headers", ())
                if name.lower() not in _OURS
            ]
            headers.extend(extra)
            message["headers"] = headers
        await send(message)

    return send_with_limits


class RateLimitMiddleware:
    """Reads ``scope["state"]["principal"]`` (set by authentication); requests without one
    (public paths) pass untouched. The limiter itself is reachable, once the app has served a
    request, as ``app.state.rate_limiter``."""

    def __init__(
        self, app: ASGIApp, settings: GatewaySettings, tier_source: TierSource | None = None
    ) -> None:
        self.app = app
        config = settings.rate_limits
        self.enabled = config.enabled
        self.window_seconds = config.window_seconds
        self.policies = Policies(config)
        self.tiers: TierSource = tier_source or PrincipalTier()
        self.limiter = Limiter(config, settings.platform.redis_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        limiter = self.limiter
        runtime = scope["app"].state.runtime
        if limiter.runtime is not runtime:
            limiter.bind(runtime)
            scope["app"].state.rate_limiter = limiter
        state = scope.get("state")
        principal = state.get("principal") if state is not None else None
        if not self.enabled or not isinstance(principal, Principal):
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        tier = self.policies.tier(await self.tiers.tier(principal))
        plan = self.policies.plan(tier, principal, scope["path"], scope.get("method", "GET"))
        decision = await limiter.check(plan.buckets)
        headers = rate_limit_headers(decision)
        metrics = limiter.metrics
        assert metrics is not None  # made by bind()
        if not decision.allowed:
            metrics.count(tier, plan.group, "limited")
            rate = decision.binding.rate
            error = RateLimited(
                f"Over the {rate.name} limit of route group {plan.group!r}: {rate.requests} "
                f"requests per {self.window_seconds} s, at most {rate.burst} at once.",
                retry_after=decision.retry_after_seconds,
                extra={"limit": rate.name, "route_group": plan.group, "tier": tier},
            )
            await self._refuse(scope, receive, send, error, headers, started)
            return

        lease = None
        if plan.slot_key is not None:
            lease = await limiter.enter(plan.slot_key, plan.slot_cap)
            if lease is None:
                metrics.count(tier, plan.group, "concurrency_limited")
                error = RateLimited(
                    f"The tenant already runs {plan.slot_cap} {plan.slot_rule} requests, as "
                    "many at once as its tier allows.",
                    # Slots free as requests finish: worth trying again soon.
                    retry_after=1,
                    extra={"limit": "concurrent-requests", "rule": plan.slot_rule, "tier": tier},
                )
                await self._refuse(scope, receive, send, error, headers, started)
                return

        metrics.count(tier, plan.group, "allowed")
        headers.append(_timing(started))
        try:
            await self.app(scope, receive, _adding(send, headers))
        finally:
            # Finished, failed or abandoned by its caller: the slot is free again either way.
            if lease is not None:
                await limiter.leave(lease)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        error: RateLimited,
        headers: list[tuple[bytes, bytes]],
        started: float,
    ) -> None:
        if scope["type"] == "websocket":
            # Closing before accepting refuses the handshake; 1013 is "try again later".
            await send(
                {"type": "websocket.close", "code": _WS_TRY_AGAIN_LATER, "reason": "rate limited"}
            )
            return
        headers.append(_timing(started))
        await problem_response(error, scope["path"])(scope, receive, _adding(send, headers))

"""The limits on the request path: a pure ASGI middleware right after authentication. Every
authenticated request is checked against its tenant's and API key's buckets for its route group,
and against the tenant's concurrency cap on expensive routes; over a limit it answers 429
problem+json with ``Retry-After``. Every answer to an authenticated request carries the
``RateLimit-*`` headers of draft-ietf-httpapi-ratelimit-headers."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from v100.contracts.meeting_tokens import MeetingToken
from v100.contracts.topology import service_info
from v100.kit.auth import Principal
from v100.kit.errors import RateLimited
from v100.kit.http import Runtime, problem_response
from v100.services.gateway.edge.limits._gcra import MICROS, Decision
from v100.services.gateway.edge.limits._limiter import Limiter
from v100.services.gateway.edge.limits._subscriptions import SubscriptionTiers
from v100.services.gateway.edge.limits._tiers import (
    Plan,
    Policies,
    PrincipalTier,
    RateLimitSettings,
    TierSource,
)

if TYPE_CHECKING:
    from v100.services.gateway.edge.settings import EdgeConfig

__all__ = ["RateLimitMiddleware", "RateLimits", "rate_limit_headers", "tier_source_for"]

_OURS = frozenset(
    {b"ratelimit-limit", b"ratelimit-remaining", b"ratelimit-reset", b"ratelimit-policy"}
)
_WS_TRY_AGAIN_LATER = 1013
_MAX_RETIERED = 10_000  # API keys' principals with the subscription's tier, kept by identity
# ``rate_limit_headers`` as header lines: limit, remaining, reset, policy.
_LINES = (
    b"ratelimit-limit: %d\r\nratelimit-remaining: %d\r\nratelimit-reset: %d\r\n"
    b"ratelimit-policy: %s\r\n"
)
# The messages that carry an answer's headers (the last: a refused WebSocket handshake).
_STARTS = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})


def rate_limit_headers(
    decision: Decision, policy: bytes | None = None
) -> list[tuple[bytes, bytes]]:
    """Limit, Remaining and Reset (delta-seconds until the bucket is full again) of the most
    restrictive limit that applied; Policy lists every limit that applied (``policy``: the
    plan's, made once)."""
    binding = decision.binding
    if policy is None:
        policy = ", ".join(s.rate.policy for s in decision.standings).encode()
    return [
        (b"ratelimit-limit", b"%d" % binding.rate.burst),
        (b"ratelimit-remaining", b"%d" % binding.remaining),
        (b"ratelimit-reset", b"%d" % -(-binding.reset_us // MICROS)),
        (b"ratelimit-policy", policy),
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


def tier_source_for(settings: EdgeConfig) -> TierSource:
    """The configured tier source: the tenant's billing_engine subscription (default), or the
    tier on the gateway's own tenant row."""
    config = settings.edge.rate_limits
    if config.tier_source == "subscription":
        routed = settings.edge.upstreams
        return SubscriptionTiers(
            config, routed.get("billing_engine", service_info("billing_engine").url)
        )
    return PrincipalTier()


class RateLimits:
    """The limits as the request path applies them: a principal's tier settled from the tier
    source, its plan (buckets and concurrency slot) by route group, and the limiter's decision.
    Built once by ``create_app`` and shared by ``RateLimitMiddleware`` (the full path) and the
    hit path (``*_now``: the same decisions when they need no waiting)."""

    def __init__(self, config: RateLimitSettings, tiers: TierSource, limiter: Limiter) -> None:
        self.enabled = config.enabled
        self.window_seconds = config.window_seconds
        self.policies = Policies(config)
        self.tiers = tiers
        self.limiter = limiter
        self._retiered: dict[int, tuple[Principal, Principal]] = {}
        self._meeting_principals: dict[str, Principal] = {}

    async def start(self, runtime: Runtime) -> None:
        """A startup hook: readiness, metrics and Redis for this run of the app."""
        self.limiter.bind(runtime)
        if isinstance(self.tiers, SubscriptionTiers):
            self.tiers.bind(runtime)

    def tiered_now(self, principal: Principal) -> Principal | None:
        """``principal`` with its tier settled as ``__call__`` settles it, when the tier is
        known without waiting; else None (the hit path then takes the full path)."""
        if self.limiter.runtime is None:
            return None
        tier = self.tiers.tier_now(principal)
        if tier is None:
            return None
        return principal if tier == principal.tier else self.with_tier(principal, tier)

    def plan_now(self, principal: Principal, path: str, method: str) -> Plan | None:
        """With limits enabled, for a principal from ``tiered_now``: the plan ``__call__``
        would apply to the request (its tier and route group label the decision, which the
        caller counts); None when a concurrency cap applies (the full path's)."""
        plan = self.policies.plan(self.policies.tier(principal.tier), principal, path, method)
        return None if plan.slot_key is not None else plan

    def admit_now(self, plan: Plan) -> bytes | None:
        """The ``RateLimit-*`` header lines ``__call__`` adds when it lets a request of
        ``plan`` through, decided without waiting; None when the request needs the full path
        (a shared limit in Redis, a refusal). A refusal is decided again there, which is safe:
        a refused GCRA check consumes nothing."""
        binding = self.limiter.admit_now(plan.buckets)
        if binding is None:
            return None
        rate, remaining, reset_us = binding
        return _LINES % (rate.burst, remaining, -(-reset_us // MICROS), plan.policy)

    def admit_headers_now(self, plan: Plan) -> list[tuple[bytes, bytes]] | None:
        """``admit_now`` as the header fields ``__call__`` adds (the proxied path edits them
        into an answer's headers, as ``__call__`` does); None when the full path must decide."""
        binding = self.limiter.admit_now(plan.buckets)
        if binding is None:
            return None
        rate, remaining, reset_us = binding
        return [
            (b"ratelimit-limit", b"%d" % rate.burst),
            (b"ratelimit-remaining", b"%d" % remaining),
            (b"ratelimit-reset", b"%d" % -(-reset_us // MICROS)),
            (b"ratelimit-policy", plan.policy),
        ]

    @staticmethod
    def with_admitted(
        headers: Iterable[tuple[bytes, bytes]], admitted: list[tuple[bytes, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        """An answer's headers as ``__call__`` passes them on: a service's own ``RateLimit-*``
        dropped, the gateway's (``admitted``, then the limiter's Server-Timing) appended."""
        out = [(name, value) for name, value in headers if name.lower() not in _OURS]
        out.extend(admitted)
        return out

    def meeting_principal(self, tenant_id: str) -> Principal:
        """Whom a meeting token's request is counted against: its tenant, with no scopes and
        the default tier, which the subscription's replaces (a tier source that reads the
        principal, ``tier_source`` = "tenant", has no tenant row here: the default tier)."""
        principal = self._meeting_principals.get(tenant_id)
        if principal is None:
            if len(self._meeting_principals) >= _MAX_RETIERED:
                self._meeting_principals.clear()
            principal = Principal(tenant_id=tenant_id, tier=self.policies.config.default_tier)
            self._meeting_principals[tenant_id] = principal
        return principal

    def with_tier(self, principal: Principal, tier: str) -> Principal:
        """``principal`` with ``tier``. An API key's principal is one object for as long as the
        key cache holds it, so its copy is kept (by identity) rather than made per request."""
        if principal.api_key_id is None:
            return dataclasses.replace(principal, tier=tier)
        hit = self._retiered.get(id(principal))
        if hit is not None and hit[0] is principal and hit[1].tier == tier:
            return hit[1]
        if len(self._retiered) >= _MAX_RETIERED:
            self._retiered.clear()
        # The original is held too, so its id cannot be reused while the entry lives.
        copy = dataclasses.replace(principal, tier=tier)
        self._retiered[id(principal)] = (principal, copy)
        return copy


class RateLimitMiddleware:
    """Reads ``scope["state"]["principal"]`` (set by authentication); requests without one
    (public paths) pass untouched, except a meeting token's on its room routes
    (``scope["state"]["meeting_caller"]``): it counts against its tenant's buckets and its
    participant's, as an API key's request against its tenant's and the key's. It also
    settles the principal's tier: with the default tier source the tenant's subscription's
    (``SubscriptionTiers``), written back into the principal, so the internal token and the
    response cache's audience carry it too."""

    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        limits = self.limits
        limiter = limits.limiter
        state = scope.get("state")
        principal = state.get("principal") if state is not None else None
        participant_id: str | None = None
        if state is None:
            await self.app(scope, receive, send)
            return
        if not isinstance(principal, Principal):
            caller = state.get("meeting_caller")
            if not isinstance(caller, MeetingToken):
                await self.app(scope, receive, send)
                return
            # Whom the limits hold to account, and only that: it is not put in the scope.
            principal = limits.meeting_principal(caller.tenant_id)
            participant_id = caller.participant_id

        started = time.perf_counter()
        source_tier = await limits.tiers.tier(principal)
        if source_tier != principal.tier and participant_id is None:
            # What follows (the internal token, the cache's audience) sees the same tier.
            state["principal"] = limits.with_tier(principal, source_tier)
        if not limits.enabled:
            await self.app(scope, receive, send)
            return
        tier = limits.policies.tier(source_tier)
        plan = limits.policies.plan(
            tier, principal, scope["path"], scope.get("method", "GET"), participant_id
        )
        decision = await limiter.check(plan.buckets)
        headers = rate_limit_headers(decision, plan.policy)
        metrics = limiter.metrics
        assert metrics is not None  # made by bind()
        if not decision.allowed:
            metrics.count(tier, plan.group, "limited")
            rate = decision.binding.rate
            error = RateLimited(
                f"Over the {rate.name} limit of route group {plan.group!r}: {rate.requests} "
                f"requests per {limits.window_seconds} s, at most {rate.burst} at once.",
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

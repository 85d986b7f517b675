"""What the limits are and whom they bind: per billing tier (free, pro, business, enterprise) a
rate per tenant and per API key, scaled per route group, and a cap on a tenant's concurrent
expensive requests; where a request's tier comes from (``TierSource``); and ``Policies``, the
settings compiled into the buckets and slots one request is checked against."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from v100.kit.auth import Principal
from v100.kit.observability import get_logger
from v100.services.gateway.edge.limits._gcra import Bucket, Rate

__all__ = [
    "DEFAULT_GROUP",
    "KEY_PREFIX",
    "ConcurrencyRule",
    "Plan",
    "Policies",
    "PrincipalTier",
    "Quota",
    "RateLimitSettings",
    "RouteGroup",
    "TierLimits",
    "TierSource",
]

DEFAULT_GROUP = "default"
KEY_PREFIX = "v100:gateway:"
# Names end up in headers, metric labels and Redis keys: keep them plain.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_log = get_logger("v100.gateway.limits")


class Quota(BaseModel):
    """``requests`` per window, up to ``burst`` of them at once (default: all of them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    requests: int = Field(ge=1, le=100_000_000)
    burst: int | None = Field(default=None, ge=1, le=100_000_000)


class TierLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    tenant: Quota  # every request of the tenant's, whatever the credential
    api_key: Quota  # each API key's own requests (user sessions are held to the tenant's)
    # Each meeting participant's own requests with its meeting token (the room routes);
    # unset: the ``api_key`` quota, a meeting token being a credential like a key.
    participant: Quota | None = None
    # Per concurrency rule: how many such requests one tenant may have running at once.
    concurrent_requests: int = Field(ge=1, le=1_000_000)


class RouteGroup(BaseModel):
    """Paths with limits of their own: buckets apart from the default group's, each quota of the
    tier multiplied by ``scale`` (below 1 for expensive routes, above for chatty ones)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    prefixes: tuple[str, ...]
    scale: float = Field(default=1.0, gt=0, le=1000)


class ConcurrencyRule(BaseModel):
    """Expensive requests (by path prefix and method) a tenant may run only so many of at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    prefixes: tuple[str, ...]
    methods: tuple[str, ...] = ("POST", "PUT", "PATCH")

    @field_validator("methods")
    @classmethod
    def _upper(cls, methods: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(method.upper() for method in methods)


def _tier(tenant: int, api_key: int, concurrent: int) -> TierLimits:
    return TierLimits(
        tenant=Quota(requests=tenant),
        api_key=Quota(requests=api_key),
        concurrent_requests=concurrent,
    )


# Requests per minute; a full minute's quota may be spent at once (burst = requests).
DEFAULT_TIERS: dict[str, TierLimits] = {
    "free": _tier(tenant=300, api_key=120, concurrent=2),
    "pro": _tier(tenant=3_000, api_key=1_200, concurrent=8),
    "business": _tier(tenant=15_000, api_key=6_000, concurrent=32),
    "enterprise": _tier(tenant=60_000, api_key=24_000, concurrent=128),
}
DEFAULT_GROUPS: dict[str, RouteGroup] = {
    # Model calls cost the most per request.
    "ai": RouteGroup(prefixes=("/v1/chat/completions", "/v1/rag", "/v1/search"), scale=0.25),
    "media": RouteGroup(
        prefixes=("/v1/videos", "/v1/clips", "/v1/media", "/v1/analyses", "/v1/recordings"),
        scale=0.5,
    ),
    # A tus upload is many PATCHes of one chunk each; the concurrency cap bounds its cost.
    "uploads": RouteGroup(prefixes=("/v1/uploads",), scale=4.0),
}
DEFAULT_CONCURRENCY: dict[str, ConcurrencyRule] = {
    "uploads": ConcurrencyRule(prefixes=("/v1/uploads",), methods=("POST", "PATCH", "PUT")),
    "transcodes": ConcurrencyRule(prefixes=("/v1/media", "/v1/recordings"), methods=("POST",)),
}


class RateLimitSettings(BaseModel):
    """``V100_GATEWAY_RATE_LIMITS`` as JSON, e.g. ``{"tiers": {"free": {"tenant": {"requests":
    100}, "api_key": {"requests": 50, "burst": 10}, "concurrent_requests": 2}}}``; a field
    given replaces its default whole."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = True
    window_seconds: int = Field(default=60, ge=1, le=86_400)
    # The tier of a principal whose tier is not configured here, and of a tenant whose tier
    # billing_engine could not tell (and that has none known from before).
    default_tier: str = "free"
    # Where a tenant's tier comes from: its billing_engine subscription ("subscription"), or
    # the tier on the gateway's own tenant row ("tenant": a deployment without billing_engine).
    tier_source: Literal["subscription", "tenant"] = "subscription"
    # A tier read from billing_engine is used this long, then re-read (served meanwhile);
    # subscription.changed events refresh it at once.
    tier_cache_seconds: float = Field(default=60.0, gt=0, le=86_400)
    # After billing_engine failed to answer, the fallback is used this long before asking again.
    tier_retry_seconds: float = Field(default=5.0, gt=0, le=3600)
    # The longest a request waits for billing_engine (a tenant's first, or first after a change).
    tier_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    tiers: dict[str, TierLimits] = Field(default_factory=lambda: dict(DEFAULT_TIERS))
    route_groups: dict[str, RouteGroup] = Field(default_factory=lambda: dict(DEFAULT_GROUPS))
    concurrency: dict[str, ConcurrencyRule] = Field(
        default_factory=lambda: dict(DEFAULT_CONCURRENCY)
    )
    # A concurrency slot held in Redis lapses this long after its replica stopped renewing it.
    lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    # Redis slower than this counts as down: limits fall back to in-process (docs/adr/0010).
    redis_timeout_seconds: float = Field(default=0.5, gt=0, le=10)
    # While down, Redis is probed after this long, then twice as long each time, up to the max.
    redis_probe_seconds: float = Field(default=1.0, gt=0, le=60)
    redis_probe_max_seconds: float = Field(default=15.0, gt=0, le=600)

    @model_validator(mode="after")
    def _consistent(self) -> RateLimitSettings:
        if self.default_tier not in self.tiers:
            raise ValueError(f"default_tier {self.default_tier!r} is not one of the tiers")
        names = [*self.tiers, *self.route_groups, *self.concurrency]
        bad = [name for name in names if not _NAME.match(name)]
        if bad:
            raise ValueError(f"names must match {_NAME.pattern}: {bad}")
        if DEFAULT_GROUP in self.route_groups:
            raise ValueError(f"{DEFAULT_GROUP!r} is the group of every other path; not a name")
        prefixes = [p for group in self.route_groups.values() for p in group.prefixes]
        prefixes += [p for rule in self.concurrency.values() for p in rule.prefixes]
        if any(not prefix.startswith("/") for prefix in prefixes):
            raise ValueError("route prefixes start with '/'")
        return self


class TierSource(Protocol):
    """Where a request's billing tier comes from (``SubscriptionTiers`` by default)."""

    async def tier(self, principal: Principal) -> str: ...

    def tier_now(self, principal: Principal) -> str | None:
        """The tier when it is known without waiting, else None (the hit path's use)."""


class PrincipalTier:
    """The tier the gateway put into the principal, i.e. the tenant row's (``tier_source`` =
    "tenant")."""

    async def tier(self, principal: Principal) -> str:
        return principal.tier

    def tier_now(self, principal: Principal) -> str | None:
        return principal.tier


T = TypeVar("T")
# Paths and plans remembered at most; past it the memory starts over.
_REMEMBERED = 10_000


class _Prefixes(Generic[T]):
    """Longest prefix on a segment boundary (``/v1/events`` matches ``/v1/events/1``, never
    ``/v1/events-stream``), as the routing table does: a few dict probes."""

    def __init__(self, entries: Mapping[str, T]) -> None:
        self._table = {prefix.rstrip("/"): value for prefix, value in entries.items()}
        self._depth = max((prefix.count("/") for prefix in self._table), default=0)

    def match(self, path: str) -> T | None:
        parts = path.split("/", self._depth + 1)
        for end in range(min(len(parts), self._depth + 1), 1, -1):
            hit = self._table.get("/".join(parts[:end]))
            if hit is not None:
                return hit
        return None


@dataclass(frozen=True, slots=True)
class Plan:
    """What one request is checked against."""

    tier: str
    group: str
    buckets: tuple[Bucket, ...]
    slot_key: str | None = None  # the concurrency cap that applies, if any
    slot_cap: int = 0
    slot_rule: str = ""

    # ``RateLimit-Policy``: every limit of the plan, in the order the limiter reports them.
    policy: bytes = field(init=False)

    def __post_init__(self) -> None:
        policy = ", ".join(bucket.rate.policy for bucket in self.buckets).encode()
        object.__setattr__(self, "policy", policy)


class Policies:
    """The settings compiled for the hot path: every tier's rates per group made once."""

    def __init__(self, config: RateLimitSettings, key_prefix: str = KEY_PREFIX) -> None:
        self.config = config
        self._prefix = key_prefix
        self._groups = _Prefixes(
            {
                prefix: name
                for name, group in config.route_groups.items()
                for prefix in group.prefixes
            }
        )
        rules: dict[str, dict[str, str]] = {}
        for name, rule in config.concurrency.items():
            for prefix in rule.prefixes:
                for method in rule.methods:
                    rules.setdefault(prefix, {})[method] = name
        self._rules = _Prefixes(rules)
        window = config.window_seconds
        scales = {DEFAULT_GROUP: 1.0} | {n: g.scale for n, g in config.route_groups.items()}
        self._rates: dict[tuple[str, str], tuple[Rate, Rate, Rate]] = {}
        for tier, limits in config.tiers.items():
            participant = limits.participant or limits.api_key
            for group, scale in scales.items():
                self._rates[tier, group] = (
                    _scaled(limits.tenant, scale, window, "tenant", group),
                    _scaled(limits.api_key, scale, window, "api-key", group),
                    _scaled(participant, scale, window, "participant", group),
                )
        self._unknown_tiers: set[str] = set()
        self._routes: dict[str, tuple[str, dict[str, str] | None]] = {}
        self._plans: dict[tuple[str, str, str | None, str | None, str, str | None], Plan] = {}

    def tier(self, name: str) -> str:
        """``name`` if configured, else the default tier (said once per unknown name)."""
        if name in self.config.tiers:
            return name
        if name not in self._unknown_tiers:
            self._unknown_tiers.add(name)
            _log.warning(
                "unknown tier; using the default", tier=name, used=self.config.default_tier
            )
        return self.config.default_tier

    def group_of(self, path: str) -> str:
        return self._groups.match(path) or DEFAULT_GROUP

    def plan(
        self,
        tier: str,
        principal: Principal,
        path: str,
        method: str,
        participant_id: str | None = None,
    ) -> Plan:
        """The buckets and slot of one request: the tenant's, and the API key's or (a meeting
        token's request, ``participant_id``) the participant's."""
        # Plans repeat: the same caller on the same routes. Remembered per (tier, caller,
        # route group, concurrency rule), with the path's group and rule remembered per path.
        route = self._routes.get(path)
        if route is None:
            if len(self._routes) >= _REMEMBERED:
                self._routes.clear()  # rare; recomputing is cheap
            route = self._routes[path] = (self.group_of(path), self._rules.match(path))
        group, rule = route
        name = rule.get(method) if rule is not None else None
        key = (tier, principal.tenant_id, principal.api_key_id, participant_id, group, name)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= _REMEMBERED:
                self._plans.clear()
            plan = self._plans[key] = self._plan(tier, principal, path, method, participant_id)
        return plan

    def _plan(
        self, tier: str, principal: Principal, path: str, method: str, participant_id: str | None
    ) -> Plan:
        group = self.group_of(path)
        tenant_rate, key_rate, participant_rate = self._rates[tier, group]
        # One hash tag per tenant: a tenant's buckets share a Redis Cluster slot, so one script
        # may touch them all.
        base = f"{self._prefix}rl:{{{principal.tenant_id}}}:{group}"
        buckets = [Bucket(f"{base}:t", tenant_rate)]
        if principal.api_key_id is not None:
            buckets.append(Bucket(f"{base}:k:{principal.api_key_id}", key_rate))
        if participant_id is not None:
            buckets.append(Bucket(f"{base}:p:{participant_id}", participant_rate))
        rule = self._rules.match(path)
        name = rule.get(method) if rule is not None else None
        if name is None:
            return Plan(tier, group, tuple(buckets))
        return Plan(
            tier,
            group,
            tuple(buckets),
            slot_key=f"{self._prefix}cc:{{{principal.tenant_id}}}:{name}",
            slot_cap=self.config.tiers[tier].concurrent_requests,
            slot_rule=name,
        )


def _scaled(quota: Quota, scale: float, window: int, name: str, group: str) -> Rate:
    burst = quota.burst if quota.burst is not None else quota.requests
    return Rate(
        requests=max(1, round(quota.requests * scale)),
        window_seconds=window,
        burst=max(1, round(burst * scale)),
        name=name,
        group=group,
    )

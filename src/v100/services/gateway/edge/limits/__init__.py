"""The gateway's rate limits and concurrency caps (docs/gateway-traffic.md, "Rate limits"): GCRA
per tenant and per API key by billing tier (the tenant's billing_engine subscription's) and route
group, exact across replicas through one Redis script, in-process when embedded or while Redis is
away; RateLimit-* headers on every authenticated answer, 429 problem+json over a limit.

Nothing here imports the edge's settings module at run time: that module imports
``RateLimitSettings`` from here."""

from v100.services.gateway.edge.limits._attempts import AttemptLimits
from v100.services.gateway.edge.limits._gcra import (
    Bucket,
    Decision,
    FullBuckets,
    Lease,
    MemoryConcurrency,
    MemoryRateLimiter,
    Rate,
    Standing,
    evaluate,
)
from v100.services.gateway.edge.limits._limiter import Degraded, Limiter, LimiterMetrics
from v100.services.gateway.edge.limits._middleware import (
    RateLimitMiddleware,
    RateLimits,
    rate_limit_headers,
    tier_source_for,
)
from v100.services.gateway.edge.limits._redis import RedisConcurrency, RedisRateLimiter
from v100.services.gateway.edge.limits._subscriptions import SubscriptionTiers, TierMetrics
from v100.services.gateway.edge.limits._tiers import (
    ConcurrencyRule,
    Plan,
    Policies,
    PrincipalTier,
    Quota,
    RateLimitSettings,
    RouteGroup,
    TierLimits,
    TierSource,
)

__all__ = [
    "AttemptLimits",
    "Bucket",
    "ConcurrencyRule",
    "Decision",
    "Degraded",
    "FullBuckets",
    "Lease",
    "Limiter",
    "LimiterMetrics",
    "MemoryConcurrency",
    "MemoryRateLimiter",
    "Plan",
    "Policies",
    "PrincipalTier",
    "Quota",
    "Rate",
    "RateLimitMiddleware",
    "RateLimitSettings",
    "RateLimits",
    "RedisConcurrency",
    "RedisRateLimiter",
    "RouteGroup",
    "Standing",
    "SubscriptionTiers",
    "TierLimits",
    "TierMetrics",
    "TierSource",
    "evaluate",
    "rate_limit_headers",
    "tier_source_for",
]

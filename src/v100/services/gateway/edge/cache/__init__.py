"""The gateway's two-level response cache (issue 3): proxied GET and HEAD answers kept in this
process (L1) and in Redis (L2), keyed so that no answer crosses tenants or credential scopes,
stored only as the upstream's ``Cache-Control`` allows, with concurrent identical misses
coalesced in one process and across replicas, and explicit invalidation through bus events.
The rules and the key layout are documented in ``docs/gateway-traffic.md``."""

from v100.services.gateway.edge.cache._cache import CacheConfig, ResponseCache
from v100.services.gateway.edge.cache._entry import CachedResponse, RequestKey
from v100.services.gateway.edge.cache._metrics import CacheMetrics
from v100.services.gateway.edge.cache._middleware import (
    EdgeCache,
    ResponseCacheMiddleware,
    config_from,
    serve_from_memory,
)
from v100.services.gateway.edge.cache._policy import (
    RequestView,
    decide,
    etag_matches,
    normalized_query,
)

__all__ = [
    "CacheConfig",
    "CacheMetrics",
    "CachedResponse",
    "EdgeCache",
    "RequestKey",
    "RequestView",
    "ResponseCache",
    "ResponseCacheMiddleware",
    "config_from",
    "decide",
    "etag_matches",
    "normalized_query",
    "serve_from_memory",
]

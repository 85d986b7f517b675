"""The response cache's Prometheus metrics, in the gateway's own registry (``/metrics``)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from v100.services.gateway.edge.tallies import CounterTally, fold_before_collect

__all__ = ["CacheMetrics"]


class CacheMetrics:
    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        l1_bytes: Callable[[], float],
        l1_entries: Callable[[], float],
        l2_up: Callable[[], float],
    ) -> None:
        self.registry = registry
        self._children: dict[tuple[str, str], Counter] = {}
        self.requests = Counter(
            "v100_gateway_cache_requests_total",
            "Cacheable-method requests by route group and what the cache did: hit, miss, "
            "coalesced (answered by another request's fetch), bypass (the request opted out), "
            "stale (an entry was there but expired or invalidated).",
            ["route", "result"],
            registry=registry,
        )
        self.not_stored = Counter(
            "v100_gateway_cache_not_stored_total",
            "Upstream answers the cache did not store, by route group and reason.",
            ["route", "reason"],
            registry=registry,
        )
        # Counted on every proxied read of a URL not cacheable: tallied and folded before each
        # read of the registry (tallies.py), or counted at once in a registry that cannot fold.
        self._not_stored = CounterTally(self.not_stored)
        self._folding = fold_before_collect(registry, self._not_stored.fold)
        self.invalidations = Counter(
            "v100_gateway_cache_invalidations_total",
            "Invalidation events applied to this replica's in-process tier.",
            registry=registry,
        )
        Gauge(
            "v100_gateway_cache_l1_bytes",
            "Bytes held by the in-process tier.",
            registry=registry,
        ).set_function(l1_bytes)
        Gauge(
            "v100_gateway_cache_l1_entries",
            "Slots (answers, Vary indexes, marks) held by the in-process tier.",
            registry=registry,
        ).set_function(l1_entries)
        Gauge(
            "v100_gateway_cache_l2_up",
            "1 while the shared tier (Redis) is in use, 0 while it is skipped; 1 when embedded.",
            registry=registry,
        ).set_function(l2_up)

    def count(self, route: str, result: str, requests: int = 1) -> None:
        # Children cached: ``labels()`` costs more than the increment.
        child = self._children.get((route, result))
        if child is None:
            child = self._children[(route, result)] = self.requests.labels(route, result)
        child.inc(requests)

    def not_stored_because(self, route: str, reason: str) -> None:
        if self._folding:
            self._not_stored.inc(route, reason)
        else:
            self.not_stored.labels(route, reason).inc()

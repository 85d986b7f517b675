"""Prometheus metrics of the gateway's traffic control, in the gateway's own registry
(``runtime.metrics.registry``, served at ``/metrics``): breaker state and transitions, health,
requests in flight, retries and fast refusals per upstream; upstream wait and the gateway's own
processing time per route group; compression. One set per registry, however many middlewares
and app runs ask for it."""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from v100.services.gateway.edge.resilience.breaker import BreakerState
from v100.services.gateway.edge.tallies import Observations, fold_before_collect

if TYPE_CHECKING:
    from v100.services.gateway.edge.proxy.upstreams import Upstream

__all__ = ["TrafficMetrics"]

# From tens of microseconds (the gateway's own work) to the read timeout.
_FINE_BUCKETS = (
    0.00005,
    0.0001,
    0.00015,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
)
_UPSTREAM_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
)
_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, TrafficMetrics] = (
    weakref.WeakKeyDictionary()
)


class TrafficMetrics:
    @classmethod
    def of(cls, registry: CollectorRegistry) -> TrafficMetrics:
        metrics = _BY_REGISTRY.get(registry)
        if metrics is None:
            metrics = _BY_REGISTRY[registry] = cls(registry)
        return metrics

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._watched: set[str] = set()
        self.breaker_state = Gauge(
            "v100_gateway_breaker_state",
            "1 for the state each upstream's circuit breaker is in (closed, open, half_open).",
            ["upstream", "state"],
            registry=registry,
        )
        self.breaker_transitions = Counter(
            "v100_gateway_breaker_transitions_total",
            "Circuit breaker state changes, by upstream and the state entered.",
            ["upstream", "to"],
            registry=registry,
        )
        self.healthy = Gauge(
            "v100_gateway_upstream_healthy",
            "Active health checks: 1 up, 0 down, -1 not checked yet.",
            ["upstream"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "v100_gateway_upstream_in_flight",
            "Requests being forwarded to each upstream (bodies still streaming included).",
            ["upstream"],
            registry=registry,
        )
        self.refusals = Counter(
            "v100_gateway_upstream_refusals_total",
            "Requests answered 503 without calling the upstream: breaker_open or saturated.",
            ["upstream", "reason"],
            registry=registry,
        )
        self.failures = Counter(
            "v100_gateway_upstream_failures_total",
            "Calls that counted against an upstream's breaker: connect, timeout, broken, "
            "or the status it answered (502, 503, 504).",
            ["upstream", "kind"],
            registry=registry,
        )
        self.retries = Counter(
            "v100_gateway_upstream_retries_total",
            "Requests sent again to an upstream, by the reason (connect, 502, 503).",
            ["upstream", "reason"],
            registry=registry,
        )
        self.upstream_seconds = Histogram(
            "v100_gateway_upstream_duration_seconds",
            "Time waiting for the upstream's answer to start (all attempts), by route group.",
            ["route"],
            registry=registry,
            buckets=_UPSTREAM_BUCKETS,
        )
        self.processing_seconds = Histogram(
            "v100_gateway_processing_seconds",
            "The gateway's own time to the start of the answer, upstream wait excluded, by "
            "route group (as in Server-Timing gw;dur).",
            ["route"],
            registry=registry,
            buckets=_FINE_BUCKETS,
        )
        self.compressed = Counter(
            "v100_gateway_compressed_responses_total",
            "Answers compressed by the gateway, by content coding (br, gzip).",
            ["encoding"],
            registry=registry,
        )
        self.compression_bytes = Counter(
            "v100_gateway_compression_bytes_total",
            "Bytes through the compressor, by coding and side (in: identity, out: encoded).",
            ["encoding", "side"],
            registry=registry,
        )
        # labels() takes a lock and a dict lookup: children are cached for the hot path.
        self._upstream_children: dict[str, Histogram] = {}
        self._processing_children: dict[str, Histogram] = {}
        # The upstream wait of every proxied request, tallied and folded before each read of
        # the registry (tallies.py); observed at once in a registry that cannot fold.
        self._upstream_waits: dict[str, Observations] = {}
        self._folding = fold_before_collect(registry, self.fold)

    def watch(self, upstreams: Iterable[Upstream]) -> None:
        """Gauges read at scrape time from each upstream's breaker and counters: nothing is
        written on the request path."""
        for upstream in upstreams:
            if upstream.name in self._watched:
                continue
            self._watched.add(upstream.name)
            for state in BreakerState:
                self.breaker_state.labels(upstream.name, state.value).set_function(
                    partial(_in_state, upstream, state)
                )
            self.healthy.labels(upstream.name).set_function(partial(_health, upstream))
            self.in_flight.labels(upstream.name).set_function(partial(_in_flight, upstream))

    def observe_upstream(self, route: str, seconds: float) -> None:
        if not self._folding:
            self._upstream(route).observe(seconds)
            return
        waits = self._upstream_waits.get(route)
        if waits is None:
            waits = self._upstream_waits[route] = Observations(self._upstream(route))
        waits.observe(seconds)

    def _upstream(self, route: str) -> Histogram:
        child = self._upstream_children.get(route)
        if child is None:
            child = self._upstream_children[route] = self.upstream_seconds.labels(route)
        return child

    def fold(self) -> None:
        """Adds the tallied upstream waits to the histogram (before each read of the registry)."""
        waits, self._upstream_waits = self._upstream_waits, {}
        for route, observations in waits.items():
            observations.add_to(self._upstream(route))

    def observe_processing(self, route: str, seconds: float) -> None:
        self.processing(route).observe(seconds)

    def processing(self, route: str) -> Histogram:
        """The processing-time histogram of one route group."""
        child = self._processing_children.get(route)
        if child is None:
            child = self._processing_children[route] = self.processing_seconds.labels(route)
        return child


def _in_state(upstream: Upstream, state: BreakerState) -> float:
    return float(upstream.breaker.state is state)


def _health(upstream: Upstream) -> float:
    return -1.0 if upstream.healthy is None else float(upstream.healthy)


def _in_flight(upstream: Upstream) -> float:
    return float(upstream.in_flight)

"""The hit path's metrics, kept as plain numbers per kind of answer and folded into the gateway's
Prometheus metrics before every read of its registry (``MetricsRegistry.before_collect``): the
same requests, processing time, cache hits and limiter decisions the full path records, without
a lock per number on every request. Used from the event loop only, as the registry's readers
(``/metrics``) are."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable

from prometheus_client import Histogram

from v100.kit.observability import HttpMetrics
from v100.services.gateway.edge.cache import CacheMetrics
from v100.services.gateway.edge.limits import LimiterMetrics
from v100.services.gateway.edge.tallies import Observations
from v100.services.gateway.edge.traffic_metrics import TrafficMetrics

__all__ = ["HitMetrics", "Metrics"]

# method, route group, status, the limiter's tier and route group (None: limits off), and the
# response cache's result ("hit", "miss"; None: the cache had no part in the answer).
_Key = tuple[str, str, int, str | None, str | None, str | None]
# Where the full path records the same: what ``HitMetrics`` folds into.
Metrics = tuple[HttpMetrics, TrafficMetrics | None, CacheMetrics | None, LimiterMetrics | None]


class _Tally:
    """The answers of one key since the last fold."""

    __slots__ = ("answers", "latency", "processing")

    def __init__(self, latency: Histogram, processing: Histogram | None) -> None:
        self.answers = 0
        self.latency = Observations(latency)
        self.processing = Observations(processing) if processing is not None else None


class HitMetrics:
    """``record`` per answer; ``fold`` (run by the registry before each collection) adds the
    tallies to the metrics and starts new ones. The metrics objects are looked up at each use
    (``metrics``), so a fold always lands in the ones the full path uses."""

    def __init__(self, metrics: Callable[[], Metrics]) -> None:
        self._metrics = metrics
        self._tallies: dict[_Key, _Tally] = {}

    def record(
        self,
        method: str,
        route: str,
        status: int,
        tier: str | None,
        group: str | None,
        elapsed: float,
        processing: float,
        cache: str | None = "hit",
    ) -> None:
        """One answer: ``tier`` and ``group`` are those the limiter allowed it in (None with
        limits off), ``elapsed`` the time to its end (the request duration), ``processing`` the
        time to its start (the gateway's processing time), ``cache`` what the response cache
        counts it as (None: nothing)."""
        key = (method, route, status, tier, group, cache)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = self._tally(key)
        tally.answers += 1
        latency = tally.latency
        latency.counts[bisect_left(latency.bounds, elapsed)] += 1
        latency.total += elapsed
        spent = tally.processing
        if spent is not None:
            spent.counts[bisect_left(spent.bounds, processing)] += 1
            spent.total += processing

    def _tally(self, key: _Key) -> _Tally:
        http, traffic, _, _ = self._metrics()
        method, route, status, _, _, _ = key
        _, latency = http.children(method, route, status)
        return _Tally(latency, traffic.processing(route) if traffic is not None else None)

    def fold(self) -> None:
        tallies, self._tallies = self._tallies, {}
        if not tallies:
            return
        http, traffic, cache, limits = self._metrics()
        for (method, route, status, tier, group, result), tally in tallies.items():
            requests, latency = http.children(method, route, status)
            requests.inc(tally.answers)
            tally.latency.add_to(latency)
            if tally.processing is not None and traffic is not None:
                tally.processing.add_to(traffic.processing(route))
            if cache is not None and result is not None:
                cache.count(route, result, tally.answers)
            if limits is not None and tier is not None and group is not None:
                limits.count(tier, group, "allowed", tally.answers)

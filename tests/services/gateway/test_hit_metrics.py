"""The hit path's metrics against the full path's: answers recorded as plain numbers and folded
into the registry before it is read give the very samples (buckets, counts, sums, hits,
limiter decisions) that recording each answer on the Prometheus metrics gives."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from v100.kit.observability import HttpMetrics
from v100.services.gateway.edge.cache import CacheMetrics
from v100.services.gateway.edge.hit_metrics import HitMetrics, Metrics
from v100.services.gateway.edge.limits import LimiterMetrics
from v100.services.gateway.edge.traffic_metrics import TrafficMetrics

ROUTE = "/v1/credits/*"
# On bucket bounds, between them, past the last one (the +Inf bucket).
SECONDS = [0.00005, 0.00004, 0.0001, 0.00012, 0.0005, 0.0007, 0.001, 0.3, 1.0, 42.0]


def _metrics() -> Metrics:
    http = HttpMetrics("gateway")
    registry = http.registry
    cache = CacheMetrics(registry, l1_bytes=lambda: 0, l1_entries=lambda: 0, l2_up=lambda: 1)
    return http, TrafficMetrics.of(registry), cache, LimiterMetrics(registry)


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = metrics[0].registry
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def _as_the_full_path(metrics: Metrics, method: str, status: int, seconds: float) -> None:
    http, traffic, cache, limits = metrics
    assert traffic is not None
    assert cache is not None
    assert limits is not None
    traffic.observe_processing(ROUTE, seconds / 2)
    http.observe(method, ROUTE, status, seconds)
    cache.count(ROUTE, "hit")
    limits.count("free", "default", "allowed")


def test_folded_tallies_equal_the_metrics_recorded_one_by_one() -> None:
    full, fast = _metrics(), _metrics()
    tallies = HitMetrics(lambda: fast)
    fast[0].registry.before_collect.append(tallies.fold)
    answers = [(method, status, s) for s in SECONDS for method, status in [("GET", 200)] * 2]
    answers += [("HEAD", 200, 0.0003), ("GET", 304, 0.0002)]
    for round_ in range(2):  # two scrapes: the second fold adds to the first
        for method, status, seconds in answers:
            _as_the_full_path(full, method, status, seconds)
            tallies.record(method, ROUTE, status, "free", "default", seconds, seconds / 2)
        expected, folded = _samples(full), _samples(fast)
        assert folded.keys() == expected.keys()
        for name, value in expected.items():
            if name[0].endswith("_sum"):  # added in another order: rounding may differ
                assert folded[name] == pytest.approx(value, rel=1e-12), name
            else:
                assert folded[name] == value, name
        hits = ("v100_gateway_cache_requests_total", (("result", "hit"), ("route", ROUTE)))
        assert folded[hits] == len(answers) * (round_ + 1)
    # What /metrics serves is folded too, and nothing twice.
    text = generate_latest(fast[0].registry).decode()
    assert f'v100_gateway_cache_requests_total{{result="hit",route="{ROUTE}"}} 44.0' in text
    assert _samples(fast) == _samples(fast)


def test_without_limits_no_decision_is_counted() -> None:
    metrics = _metrics()
    tallies = HitMetrics(lambda: metrics)
    metrics[0].registry.before_collect.append(tallies.fold)
    tallies.record("GET", ROUTE, 200, None, None, 0.001, 0.0005)
    samples = _samples(metrics)
    assert not any(name == "v100_gateway_rate_limit_decisions_total" for name, _ in samples)
    requests = (
        "v100_http_requests_total",
        (("method", "GET"), ("route", ROUTE), ("service", "gateway"), ("status", "200")),
    )
    assert samples[requests] == 1

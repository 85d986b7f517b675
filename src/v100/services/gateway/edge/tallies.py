"""Counts a hot path keeps as plain numbers and adds to its Prometheus metrics at once, before
each read of the registry (``MetricsRegistry.before_collect``): a scrape sees every count, and
no request pays prometheus_client's lock per increment. Used from the event loop only, as the
registry's readers (``/metrics``) are."""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client import CollectorRegistry, Counter, Histogram

from v100.kit.observability import MetricsRegistry

__all__ = ["CounterTally", "Observations", "fold_before_collect"]


def fold_before_collect(registry: CollectorRegistry, fold: object) -> bool:
    """Runs ``fold`` before each read of ``registry``; False when the registry cannot (a
    plain ``CollectorRegistry``): the caller then counts at once."""
    if not isinstance(registry, MetricsRegistry) or not callable(fold):
        return False
    registry.before_collect.append(fold)
    return True


class Observations:
    """Observations of one histogram as ``Histogram.observe`` files them (in the first bucket
    whose upper bound is at least the value), to be added to it at once. prometheus_client has
    no public call that adds many observations, so ``add_to`` increments the child's own bucket
    and sum values, the very ones ``observe`` increments."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, histogram: Histogram) -> None:
        self.bounds: list[float] = histogram._upper_bounds
        self.counts = [0] * len(self.bounds)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def add_to(self, histogram: Histogram) -> None:
        histogram._sum.inc(self.total)
        for bucket, count in zip(histogram._buckets, self.counts, strict=True):
            if count:
                bucket.inc(count)


class CounterTally:
    """Increments of one labelled counter by label values, added to it at once by ``fold``."""

    __slots__ = ("counter", "counts")

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.counts: dict[tuple[str, ...], int] = {}

    def inc(self, *labels: str) -> None:
        counts = self.counts
        counts[labels] = counts.get(labels, 0) + 1

    def fold(self) -> None:
        counts, self.counts = self.counts, {}
        for labels, count in counts.items():
            self.counter.labels(*labels).inc(count)

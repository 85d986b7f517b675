"""Logs and metrics: structlog JSON lines carrying the request id, and one Prometheus registry
per service (the embedded mode runs 19 services in one process; each keeps its own metrics)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import TextIO

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import Metric

__all__ = [
    "HttpMetrics",
    "MetricsRegistry",
    "configure_logging",
    "current_request_id",
    "get_logger",
]

current_request_id: ContextVar[str | None] = ContextVar("v100_request_id", default=None)

_configured = False


def _add_request_id(
    _logger: object, _method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    request_id = current_request_id.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def configure_logging(level: str = "INFO", *, json: bool = True, file: Path | None = None) -> None:
    """Route structlog and the standard library's logging to one stream, once per process."""
    global _configured
    if _configured:
        return
    _configured = True
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        stream: TextIO = file.open("a", buffering=1)
    else:
        stream = sys.stderr
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log duplicates ours (which carries the request id); keep its errors.
    logging.getLogger("uvicorn.access").disabled = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger


class MetricsRegistry(CollectorRegistry):
    """A registry that first runs its ``before_collect`` hooks: counts a hot path keeps in plain
    numbers (the gateway's hit path) are folded into the metrics before every read, so every
    scrape is exact."""

    def __init__(self) -> None:
        super().__init__(auto_describe=True)
        self.before_collect: list[Callable[[], None]] = []

    def collect(self) -> Iterator[Metric]:
        for hook in self.before_collect:
            hook()
        yield from super().collect()


class HttpMetrics:
    """Request counters and latency histograms of one service, in its own registry."""

    def __init__(self, service: str) -> None:
        self.registry = MetricsRegistry()
        self.requests = Counter(
            "v100_http_requests_total",
            "HTTP requests answered, by route template and status.",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "v100_http_request_duration_seconds",
            "Time to the end of the response, by route template.",
            ["service", "method", "route"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.service = service
        # ``labels()`` takes a lock and builds a key on every call: children are looked up
        # once per (method, route, status) and kept (routes are templates: a bounded set).
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        requests, latency = self.children(method, route, status)
        requests.inc()
        latency.observe(seconds)

    def children(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        """The request counter and latency histogram of one (method, route, status)."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(self.service, method, route, str(status)),
                self.latency.labels(self.service, method, route),
            )
        return children

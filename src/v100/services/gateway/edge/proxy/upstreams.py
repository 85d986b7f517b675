"""The gateway's routing table and its connections to the other services: which service serves a
path (longest public prefix wins), each service's base URL, one keep-alive pool, circuit breaker
and in-flight count per service, the retry policy, the active health checks, and the caller's
internal token (minted once, reused while it is fresh)."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import httpx

from v100.contracts.topology import SERVICES
from v100.kit.auth import InternalTokens, Principal
from v100.kit.errors import ProblemError
from v100.kit.http import Runtime
from v100.kit.observability import get_logger
from v100.services.gateway.edge.proxy.upstream_client import UpstreamPool
from v100.services.gateway.edge.resilience.breaker import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
)
from v100.services.gateway.edge.resilience.health import HealthCheckPolicy, HealthChecks
from v100.services.gateway.edge.resilience.retries import RetryPolicy
from v100.services.gateway.edge.settings import EdgeConfig
from v100.services.gateway.edge.traffic_metrics import TrafficMetrics

__all__ = [
    "RetryPolicy",
    "Route",
    "Upstream",
    "UpstreamFailed",
    "UpstreamTimeout",
    "Upstreams",
]

_log = get_logger("v100.gateway.upstreams")
GATEWAY = "gateway"  # in the topology too, and never routed to


class UpstreamTimeout(ProblemError):
    status = 504
    slug = "upstream-timeout"
    title = "Upstream service timed out"


class UpstreamFailed(ProblemError):
    status = 502
    slug = "upstream-failed"
    title = "Upstream service failed"


@dataclass(eq=False, slots=True)
class Upstream:
    """One service behind the gateway: its pool of keep-alive connections, its breaker and what
    is in flight to it."""

    name: str
    base_url: str  # no trailing slash; may carry a path prefix
    summary: str = ""
    breaker: CircuitBreaker = field(init=False, repr=False)
    breaker_policy: BreakerPolicy | None = field(default=None, repr=False)
    in_flight: int = 0
    # Per tenant, the part of ``in_flight`` that is theirs (fair sharing; absent at zero).
    tenants_in_flight: dict[str, int] = field(default_factory=dict, repr=False)
    retries_in_flight: int = 0
    healthy: bool | None = None  # by the active checks; None until the first verdict
    _pool: UpstreamPool | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.breaker = CircuitBreaker(self.name, self.breaker_policy)

    @property
    def ws_base_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http")


@dataclass(frozen=True, slots=True)
class Route:
    prefix: str
    upstream: Upstream
    # The route group in metrics and access logs (read as ``scope["route"].path``).
    path: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", f"{self.prefix}/*")


class _TokenCache:
    """Internal tokens by principal. Minting costs tens of microseconds per request on the hot
    path; a token is reused for half its lifetime, so what a service receives always has at
    least the other half left."""

    def __init__(self, reuse_seconds: float, max_entries: int = 8192) -> None:
        self._reuse = reuse_seconds
        self._max = max_entries
        self._entries: dict[tuple[InternalTokens, Principal], tuple[str, float]] = {}

    def bearer(self, tokens: InternalTokens, principal: Principal) -> str:
        key = (tokens, principal)
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        if len(self._entries) >= self._max:
            self._entries.clear()  # rare: a burst of distinct callers; re-minting is cheap
        value = f"Bearer {tokens.mint(principal)}"
        self._entries[key] = (value, now + self._reuse)
        return value


class Upstreams:
    """Every service but the gateway, with the public prefixes that lead to each."""

    def __init__(
        self,
        urls: Mapping[str, str],
        prefixes: Mapping[str, str],
        *,
        summaries: Mapping[str, str] | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 60.0,
        max_connections: int = 256,
        tenant_share: float = 1.0,
        buffer_body_bytes: int = 0,
        body_idle_seconds: float = 60.0,
        keepalive_seconds: float = 4.0,
        token_reuse_seconds: float = 30.0,
        breaker: BreakerPolicy | None = None,
        retries: RetryPolicy | None = None,
        health_checks: HealthCheckPolicy | None = None,
        identity_upstream: bool = False,
    ) -> None:
        summaries = summaries or {}
        self._upstreams = {
            name: Upstream(name, url.rstrip("/"), summaries.get(name, ""), breaker_policy=breaker)
            for name, url in urls.items()
        }
        self._routes = {
            prefix.rstrip("/"): Route(prefix.rstrip("/"), self._upstreams[name])
            for prefix, name in prefixes.items()
        }
        self._depth = max((p.count("/") for p in self._routes), default=0)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._max_connections = max_connections
        self._keepalive = keepalive_seconds
        self._tokens = _TokenCache(token_reuse_seconds)
        # Also the most requests in flight to one upstream: one more is refused at once; and
        # one tenant's most of them.
        self.max_in_flight = max_connections
        self.max_tenant_in_flight = max(1, int(max_connections * tenant_share))
        self.buffer_body_bytes = buffer_body_bytes
        self.body_idle_seconds = body_idle_seconds
        self.retries = retries or RetryPolicy()
        self.health_policy = health_checks
        # The gateway compresses answers itself: services are asked for identity, so it does
        # so once, by one policy, and the response cache keeps one variant per URL.
        self.identity_upstream = identity_upstream
        self.metrics: TrafficMetrics | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        for upstream in self._upstreams.values():
            upstream.breaker.on_transition = self._on_transition

    @classmethod
    def from_settings(cls, config: EdgeConfig) -> Upstreams:
        settings = config.edge
        urls: dict[str, str] = {}
        prefixes: dict[str, str] = {}
        for info in SERVICES:
            if info.name == GATEWAY:
                continue
            urls[info.name] = settings.upstreams.get(info.name, info.url)
            for prefix in info.prefixes + info.websocket_prefixes:
                prefixes[prefix] = info.name
        unknown = set(settings.upstreams) - set(urls)
        if unknown:
            raise ValueError(f"V100_GATEWAY_UPSTREAMS names unknown services: {sorted(unknown)}")
        return cls(
            urls,
            prefixes,
            summaries={info.name: info.summary for info in SERVICES},
            connect_timeout=settings.upstream_connect_timeout_seconds,
            read_timeout=settings.upstream_read_timeout_seconds,
            max_connections=settings.upstream_max_connections,
            tenant_share=settings.upstream_tenant_share,
            buffer_body_bytes=settings.proxy_buffer_body_bytes,
            body_idle_seconds=settings.proxy_body_idle_seconds,
            keepalive_seconds=settings.upstream_keepalive_seconds,
            token_reuse_seconds=config.platform.internal_token_ttl_seconds / 2,
            breaker=BreakerPolicy(
                enabled=settings.breaker_enabled,
                failure_ratio=settings.breaker_failure_ratio,
                window_seconds=settings.breaker_window_seconds,
                minimum_requests=settings.breaker_minimum_requests,
                consecutive_failures=settings.breaker_consecutive_failures,
                open_seconds=settings.breaker_open_seconds,
                max_open_seconds=settings.breaker_max_open_seconds,
                half_open_probes=settings.breaker_half_open_probes,
            ),
            retries=RetryPolicy(
                attempts=settings.upstream_retries,
                backoff_seconds=settings.upstream_retry_backoff_seconds,
                budget_ratio=settings.upstream_retry_budget_ratio,
                max_body_bytes=settings.upstream_retry_max_body_bytes,
            ),
            health_checks=HealthCheckPolicy(
                interval_seconds=settings.health_check_interval_seconds,
                timeout_seconds=settings.health_check_timeout_seconds,
                unhealthy_threshold=settings.health_check_unhealthy_threshold,
                healthy_threshold=settings.health_check_healthy_threshold,
            )
            if settings.health_check_enabled
            else None,
            identity_upstream=settings.compression_enabled,
        )

    def __iter__(self) -> Iterator[Upstream]:
        return iter(self._upstreams.values())

    def __getitem__(self, name: str) -> Upstream:
        return self._upstreams[name]

    @property
    def prefixes(self) -> tuple[str, ...]:
        return tuple(self._routes)

    def routed(self) -> list[Upstream]:
        """The services with public routes, in topology order."""
        names = {route.upstream.name for route in self._routes.values()}
        return [upstream for upstream in self if upstream.name in names]

    def route(self, path: str) -> Route | None:
        """The route whose prefix is the longest one matching ``path`` on a segment boundary
        (``/v1/events`` serves ``/v1/events/x`` but not ``/v1/events-stream``)."""
        parts = path.split("/", self._depth + 1)
        for end in range(min(len(parts), self._depth + 1), 1, -1):
            route = self._routes.get("/".join(parts[:end]))
            if route is not None:
                return route
        return None

    def bearer(self, tokens: InternalTokens, principal: Principal) -> str:
        return self._tokens.bearer(tokens, principal)

    def pool(self, upstream: Upstream) -> UpstreamPool:
        """The proxy's connections to the upstream (``upstream_client``)."""
        pool = upstream._pool
        if pool is None:
            pool = upstream._pool = UpstreamPool(
                upstream.base_url,
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
                keepalive_seconds=self._keepalive,
            )
        return pool

    @property
    def client(self) -> httpx.AsyncClient:
        """One httpx client for the gateway's own calls to the upstreams (status, OpenAPI),
        opened on first use (one TLS context, connections kept per service); proxied requests
        use ``pool``. Never follows redirects, never reads the environment's proxies."""
        client = self._client
        if client is None or client.is_closed:
            client = self._client = httpx.AsyncClient(
                limits=httpx.Limits(
                    max_connections=self._max_connections,
                    max_keepalive_connections=len(self._upstreams) * 2,
                    keepalive_expiry=self._keepalive,
                ),
                # ``pool`` is the wait for a free connection: a saturated client answers
                # quickly instead of queueing callers without bound.
                timeout=httpx.Timeout(
                    connect=self.connect_timeout,
                    read=self.read_timeout,
                    write=self.read_timeout,
                    pool=self.connect_timeout * 2,
                ),
                follow_redirects=False,
                trust_env=False,
            )
        return client

    async def start(self, runtime: Runtime) -> None:
        """An ``on_startup`` hook: metrics in the runtime's registry, and the active health
        checks as one of its background tasks."""
        self.metrics = TrafficMetrics.of(runtime.metrics.registry)
        self.metrics.watch(self._upstreams.values())
        _freeze_startup_heap()
        if self.health_policy is not None and (
            self._health_task is None or self._health_task.done()
        ):
            checks = HealthChecks(self.routed(), self.health_policy)
            self._health_task = asyncio.create_task(checks.run(), name="gateway:health-checks")
            runtime.background.append(self._health_task)

    def _on_transition(
        self, name: str, previous: BreakerState, to: BreakerState, reason: str
    ) -> None:
        log = _log.info if to is BreakerState.CLOSED else _log.warning
        log("circuit breaker " + to.value, upstream=name, was=previous.value, reason=reason)
        if self.metrics is not None:
            self.metrics.breaker_transitions.labels(name, to.value).inc()

    async def close(self, _runtime: object = None) -> None:
        """Stops the health checks and closes every pool (an ``on_shutdown`` hook); the pools
        reopen on next use."""
        task, self._health_task = self._health_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for upstream in self._upstreams.values():
            pool, upstream._pool = upstream._pool, None
            if pool is not None:
                pool.close()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


_heap_frozen = False


def _freeze_startup_heap() -> None:
    """Takes what start-up built (modules, routes, models: ~160k objects) out of the cyclic
    GC's sight, once per process. A full collection then walks only what requests create,
    instead of stopping the event loop for 100-300 ms every few seconds under load (measured
    on the bench machine: those pauses were most of the gateway's p99)."""
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.collect()
        gc.freeze()

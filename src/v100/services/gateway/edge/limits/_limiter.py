"""The limiter the middleware asks: Redis when the deployment has it, in-process otherwise and
while Redis does not answer. It falls back on the first failure (logged once, counted, reported
on /ready), probes Redis with backoff meanwhile and returns to it when it answers; it renews
the leases of running requests and owns its Redis client for the app's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.exceptions import RedisError

from v100.kit.http import Runtime
from v100.kit.observability import get_logger
from v100.services.gateway.edge.limits._gcra import (
    Bucket,
    Decision,
    FullBuckets,
    Lease,
    MemoryConcurrency,
    MemoryRateLimiter,
    Rate,
    monotonic_us,
)
from v100.services.gateway.edge.limits._redis import (
    RedisConcurrency,
    RedisRateLimiter,
    connect_limiter,
)
from v100.services.gateway.edge.limits._resp import PipelinedRedis
from v100.services.gateway.edge.limits._tiers import RateLimitSettings

__all__ = ["Degraded", "Limiter", "LimiterMetrics"]

# A server that is down, restarting, unreachable, slow past the timeout, out of memory or
# read-only after a failover: in every case the limiter keeps the gateway serving in-process.
_REDIS_FAILURES = (RedisError, OSError)
_log = get_logger("v100.gateway.limits")


class Degraded(Exception):
    """/ready's answer while limits are in-process because Redis does not answer."""


class LimiterMetrics:
    """In the gateway's own registry (``runtime.metrics.registry``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "v100_gateway_rate_limit_decisions_total",
            "Limiter decisions by tier, route group and outcome "
            "(allowed, limited, concurrency_limited).",
            ["tier", "route_group", "decision"],
            registry=registry,
        )
        self.degraded = Gauge(
            "v100_gateway_rate_limit_degraded",
            "1 while limits are kept in-process because Redis does not answer.",
            registry=registry,
        )
        self.degradations = Counter(
            "v100_gateway_rate_limit_degradations_total",
            "Times the limiter fell back from Redis to in-process limits.",
            registry=registry,
        )
        self._children: dict[tuple[str, str, str], Counter] = {}

    def count(self, tier: str, group: str, decision: str, requests: int = 1) -> None:
        key = (tier, group, decision)
        child = self._children.get(key)
        if child is None:  # labels() costs a lock and a lookup: once per combination
            child = self._children[key] = self.decisions.labels(tier, group, decision)
        child.inc(requests)


class Limiter:
    def __init__(self, config: RateLimitSettings, redis_url: str | None) -> None:
        self.config = config
        self.redis_url = redis_url
        self.local_rates = MemoryRateLimiter()
        self.local_slots = MemoryConcurrency()
        self.remote_rates: RedisRateLimiter | None = None
        self.remote_slots: RedisConcurrency | None = None
        # Callers over their limit are refused from here rather than at a Redis round trip each.
        self.full = FullBuckets()
        self.metrics: LimiterMetrics | None = None
        self.runtime: Runtime | None = None
        self.degraded = False
        self.degraded_since: datetime | None = None
        self._trouble: asyncio.Event | None = None

    def bind(self, runtime: Runtime) -> None:
        """Start serving this run of the app: register the readiness check and metrics, open
        Redis. Synchronous, so concurrent first requests cannot start it twice."""
        if self.runtime is runtime:
            return
        self.runtime = runtime
        if self.metrics is None:  # one registry per app, whatever the number of runs
            self.metrics = LimiterMetrics(runtime.metrics.registry)
        runtime.checks["rate_limits"] = self.readiness
        self.degraded = False
        self.degraded_since = None
        self.metrics.degraded.set(0)
        if self.redis_url is None:
            return
        client = connect_limiter(self.redis_url, self.config.redis_timeout_seconds)
        self.remote_rates = RedisRateLimiter(client)
        self.remote_slots = RedisConcurrency(client, round(self.config.lease_seconds * 1000))
        self._trouble = asyncio.Event()
        # The runtime cancels its background tasks when the app stops; this one then closes
        # the client it owns.
        runtime.background.append(asyncio.create_task(self._watch(client)))

    async def check(self, buckets: Sequence[Bucket]) -> Decision:
        remote = self.remote_rates
        if remote is not None and not self.degraded:
            sent_at = monotonic_us()
            refused = self.full.refuse(buckets, sent_at)
            if refused is not None:
                return refused
            try:
                decision = await remote.acquire(buckets)
            except _REDIS_FAILURES as exc:
                self._degrade(exc)
            else:
                self.full.note(buckets, decision, sent_at)
                return decision
        return await self.local_rates.acquire(buckets)

    def admit_now(self, buckets: Sequence[Bucket]) -> tuple[Rate, int, int] | None:
        """``MemoryRateLimiter.admit_now`` when limits are kept in this process (no Redis, or
        Redis away); None when the shared limits in Redis must be asked (the hit path's use)."""
        if self.remote_rates is not None and not self.degraded:
            return None
        return self.local_rates.admit_now(buckets)

    async def enter(self, key: str, cap: int) -> Lease | None:
        remote = self.remote_slots
        if remote is not None and not self.degraded:
            try:
                return await remote.enter(key, cap)
            except _REDIS_FAILURES as exc:
                self._degrade(exc)
        return await self.local_slots.enter(key, cap)

    async def leave(self, lease: Lease) -> None:
        holder = lease.holder
        if isinstance(holder, RedisConcurrency) and self.degraded:
            holder.forget(lease)  # Redis is away; the lease lapses there on its own
            return
        try:
            await holder.leave(lease)
        except _REDIS_FAILURES as exc:
            self._degrade(exc)

    async def readiness(self) -> None:
        if self.degraded:
            since = f"{self.degraded_since:%Y-%m-%dT%H:%M:%SZ}" if self.degraded_since else "?"
            raise Degraded(f"in-process limits since {since}: redis does not answer (probing)")

    def _degrade(self, exc: BaseException) -> None:
        if self.degraded:
            return
        self.degraded = True
        self.degraded_since = datetime.now(UTC)
        if self._trouble is not None:
            self._trouble.set()
        if self.metrics is not None:
            self.metrics.degraded.set(1)
            self.metrics.degradations.inc()
        _log.warning(
            "rate limits degraded to in-process: redis does not answer; each replica now "
            "enforces its own limits until it is back",
            error=repr(exc),
        )

    async def _watch(self, client: PipelinedRedis) -> None:
        """Renews this replica's leases while Redis answers; probes it while it does not."""
        trouble = self._trouble
        assert trouble is not None
        renew_every = self.config.lease_seconds / 3
        try:
            while True:
                if self.degraded:
                    await self._probe(client)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(trouble.wait(), renew_every)
                if not self.degraded and self.remote_slots is not None:
                    try:
                        await self.remote_slots.renew()
                    except _REDIS_FAILURES as exc:
                        self._degrade(exc)
        finally:
            await client.aclose()

    async def _probe(self, client: PipelinedRedis) -> None:
        delay = self.config.redis_probe_seconds
        started = time.monotonic()
        while True:
            await asyncio.sleep(delay)
            try:
                await client.ping()
            except _REDIS_FAILURES:
                delay = min(delay * 2, self.config.redis_probe_max_seconds)
                continue
            break
        self.degraded = False
        self.degraded_since = None
        if self._trouble is not None:
            self._trouble.clear()
        if self.metrics is not None:
            self.metrics.degraded.set(0)
        _log.info("rate limits back on redis", after_seconds=round(time.monotonic() - started, 1))

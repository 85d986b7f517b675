"""Active health checks: one background task asks every routed service for ``GET /health`` every
few seconds (with jitter, a short timeout, a few at a time, on connections of its own), marks a
service down after consecutive failures, which holds its circuit breaker open, and up again
after consecutive successes. Passive checks (the breaker) notice faster under traffic; these
bring a service back without traffic, which passive checks alone never do (Kong's docs say as
much)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from v100.kit.observability import get_logger

if TYPE_CHECKING:
    from v100.services.gateway.edge.proxy.upstreams import Upstream

__all__ = ["HealthCheckPolicy", "HealthChecks"]

_log = get_logger("v100.gateway.health")


@dataclass(frozen=True, slots=True)
class HealthCheckPolicy:
    interval_seconds: float = 5.0
    timeout_seconds: float = 1.0
    unhealthy_threshold: int = 2  # failed checks in a row that mark a service down
    healthy_threshold: int = 1  # passed checks in a row that mark it up again
    concurrency: int = 4  # checks in flight at once, across all services
    path: str = "/health"


class HealthChecks:
    """Run by ``run`` as a background task of the gateway's runtime (cancelled at shutdown)."""

    def __init__(self, upstreams: Sequence[Upstream], policy: HealthCheckPolicy) -> None:
        self.upstreams = upstreams
        self.policy = policy
        self._passed: dict[str, int] = {}
        self._failed: dict[str, int] = {}

    async def run(self) -> None:
        policy = self.policy
        client = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=policy.concurrency,
                max_keepalive_connections=policy.concurrency,
                # Kept alive across rounds only if rounds come faster than the upstream's 5 s.
                keepalive_expiry=min(4.0, policy.interval_seconds / 2),
            ),
            timeout=httpx.Timeout(policy.timeout_seconds),
            follow_redirects=False,
            trust_env=False,
        )
        gate = asyncio.Semaphore(policy.concurrency)
        try:
            await asyncio.gather(*(self._watch(client, gate, u) for u in self.upstreams))
        finally:
            await client.aclose()

    async def _watch(
        self, client: httpx.AsyncClient, gate: asyncio.Semaphore, upstream: Upstream
    ) -> None:
        interval = self.policy.interval_seconds
        # Spread the services over the interval, and each round by ±10%, so the checks never
        # line up into bursts (nor do those of several gateway replicas).
        await asyncio.sleep(random.uniform(0, interval))
        while True:
            async with gate:
                problem = await self.probe(client, upstream)
            self.observe(upstream, problem)
            await asyncio.sleep(interval * random.uniform(0.9, 1.1))

    async def probe(self, client: httpx.AsyncClient, upstream: Upstream) -> str | None:
        """None if the service answered 2xx in time (the whole answer, connecting included),
        else what went wrong."""
        try:
            async with asyncio.timeout(self.policy.timeout_seconds):
                response = await client.get(upstream.base_url + self.policy.path)
            if 200 <= response.status_code < 300:
                return None
            return f"{self.policy.path} answered {response.status_code}"
        except (TimeoutError, httpx.TimeoutException):
            return f"no answer within {self.policy.timeout_seconds:g} s"
        except (httpx.HTTPError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"[:200]

    def observe(self, upstream: Upstream, problem: str | None) -> None:
        policy = self.policy
        name = upstream.name
        if problem is None:
            self._failed[name] = 0
            passed = self._passed[name] = self._passed.get(name, 0) + 1
            if upstream.healthy is not True and passed >= policy.healthy_threshold:
                if upstream.healthy is False:
                    _log.info("upstream healthy again", upstream=name)
                upstream.healthy = True
                upstream.breaker.mark_up()
            return
        self._passed[name] = 0
        failed = self._failed[name] = self._failed.get(name, 0) + 1
        if upstream.healthy is not False and failed >= policy.unhealthy_threshold:
            _log.warning("upstream unhealthy", upstream=name, reason=problem, checks=failed)
            upstream.healthy = False
        if upstream.healthy is False:
            # Callers are told to come back when the next check may have found it again.
            upstream.breaker.mark_down(problem, retry_after=policy.interval_seconds)

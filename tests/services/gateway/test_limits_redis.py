"""Limits that need Redis: two gateway replicas enforcing one limit between them, and a Redis
outage: the gateway keeps serving on in-process limits, says so once (a counter, a log line) and
on /ready, probes Redis with backoff rather than on every request, and returns to it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import redis.asyncio as aioredis

from v100.kit.auth import InternalTokens
from v100.kit.bus import MemoryBus
from v100.kit.cache import MemoryCache
from v100.kit.http import Runtime
from v100.kit.observability import HttpMetrics
from v100.kit.testing.bus import redis_url_or_skip
from v100.kit.testing.net import CuttableTcpProxy
from v100.services.gateway.edge.limits import Bucket, Limiter, Quota, Rate, RateLimits
from v100.services.gateway.settings import GatewaySettings

from .routing_support import all_upstreams, echo_serving, gateway_serving
from .test_limits_gateway import LIMIT_HEADERS, limited, limits


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in the metrics")


async def test_two_gateways_enforce_one_limit_between_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("V100_REDIS_URL", redis_url_or_skip())
    shared_db = f"sqlite+aiosqlite:///{tmp_path}/shared-gateway.db"
    rate_limits = limits(key=Quota(requests=10))
    async with (
        echo_serving("/v1/credits", tmp_path / "billing") as (url, log),
        gateway_serving(
            tmp_path, all_upstreams(billing=url), database_url=shared_db, rate_limits=rate_limits
        ) as one,
        gateway_serving(
            tmp_path, all_upstreams(billing=url), database_url=shared_db, rate_limits=rate_limits
        ) as two,
        one.client() as to_one,
        two.client() as to_two,
    ):
        # One key (made through the first replica), 40 requests at once over both replicas.
        answers = await asyncio.gather(
            *(
                (to_one, to_two)[n % 2].get("/v1/credits/echo", headers=one.headers)
                for n in range(40)
            )
        )
    assert sum(a.status_code == 200 for a in answers) == 10
    assert sum(a.status_code == 429 for a in answers) == 30
    assert len(log.requests) == 10
    seen = sorted(int(a.headers["ratelimit-remaining"]) for a in answers if a.status_code == 200)
    assert seen == list(range(10))  # one count between the replicas, no request saw another's


async def test_redis_outage_falls_back_to_in_process_limits_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = urlparse(redis_url_or_skip())
    assert real.hostname is not None
    assert real.port is not None
    proxy = CuttableTcpProxy(real.hostname, real.port)
    await proxy.open()
    monkeypatch.setenv("V100_REDIS_URL", f"redis://127.0.0.1:{proxy.port}{real.path}")
    direct = aioredis.Redis.from_url(redis_url_or_skip())
    try:
        async with (
            limited(tmp_path, limits(key=Quota(requests=5))) as (gateway, _),
            gateway.client() as http,
        ):
            path, key = "/v1/credits/echo", gateway.headers
            assert [(await http.get(path, headers=key)).status_code for _ in range(2)] == [200] * 2
            limiter: Limiter = gateway.app.state.runtime.get(RateLimits).limiter
            pattern = f"v100:gateway:rl:{{{gateway.tenant_id}}}:credits:k:*"
            [bucket] = [k async for k in direct.scan_iter(match=pattern)]
            tat_before = await direct.get(bucket)

            await proxy.cut()
            answers = [await http.get(path, headers=key) for _ in range(7)]
            # Served on in-process limits: this replica's own fresh bucket of 5.
            assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
            assert all(all(h in a.headers for h in LIMIT_HEADERS) for a in answers)
            assert limiter.degraded
            ready = await http.get("/ready")
            assert ready.status_code == 503
            assert "in-process limits" in ready.json()["checks"]["rate_limits"]
            text = (await http.get("/metrics")).text
            assert metric(text, "v100_gateway_rate_limit_degradations_total") == 1.0  # once
            assert metric(text, "v100_gateway_rate_limit_degraded") == 1.0

            await proxy.open()
            for _ in range(100):
                if not limiter.degraded:
                    break
                await asyncio.sleep(0.05)
            assert not limiter.degraded
            for _ in range(100):
                ready = await http.get("/ready")
                if ready.status_code == 200:
                    break
                await asyncio.sleep(0.05)
            assert ready.json()["checks"]["rate_limits"] == "ok"
            # Back on Redis: its bucket (3 left of 5 since before the outage) moves again.
            back = await http.get(path, headers=key)
            assert back.status_code == 200
            assert back.headers["ratelimit-remaining"] == "2"
            assert await direct.get(bucket) != tat_before
            text = (await http.get("/metrics")).text
            assert metric(text, "v100_gateway_rate_limit_degradations_total") == 1.0
            assert metric(text, "v100_gateway_rate_limit_degraded") == 0.0
    finally:
        await direct.aclose()
        await proxy.cut()


@contextlib.asynccontextmanager
async def redis_that_hangs_up() -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback port that accepts connections and closes them at once, counting them."""
    accepted: list[int] = []

    async def hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0", accepted
    finally:
        server.close()
        await server.wait_closed()


async def test_an_unreachable_redis_is_probed_with_backoff_not_per_request(
    tmp_path: Path,
) -> None:
    settings = GatewaySettings()
    config = limits(redis_probe_seconds=0.05, redis_probe_max_seconds=0.4)
    async with redis_that_hangs_up() as (url, accepted):
        runtime = Runtime(
            settings=settings,
            tokens=InternalTokens("x" * 32),
            metrics=HttpMetrics("gateway"),
            bus=MemoryBus(),
            cache=MemoryCache(),
        )
        limiter = Limiter(config, url)
        limiter.bind(runtime)
        bucket = [Bucket("t", Rate(1000, 60, 1000))]
        try:
            assert (await limiter.check(bucket)).allowed
            assert limiter.degraded
            after_failure = len(accepted)
            assert after_failure <= 2  # the request's attempt and one retry
            # A second of requests while Redis is away: none of them tries Redis.
            for _ in range(50):
                assert (await limiter.check(bucket)).allowed
                await asyncio.sleep(0.02)
            # Probes after 0.05, 0.1, 0.2, 0.4, 0.4 s ...: a handful, not one per request.
            probes = len(accepted) - after_failure
            assert 2 <= probes <= 12, probes
            with pytest.raises(Exception, match="in-process limits"):
                await limiter.readiness()
        finally:
            for task in runtime.background:
                task.cancel()
            await asyncio.gather(*runtime.background, return_exceptions=True)


async def test_a_caller_over_its_limit_is_refused_without_asking_redis_each_time(
    redis_prefix: str,
) -> None:
    runtime = Runtime(
        settings=GatewaySettings(),
        tokens=InternalTokens("x" * 32),
        metrics=HttpMetrics("gateway"),
        bus=MemoryBus(),
        cache=MemoryCache(),
    )
    limiter = Limiter(limits(), redis_url_or_skip())
    limiter.bind(runtime)
    remote = limiter.remote_rates
    assert remote is not None
    asked = 0
    acquire = remote.acquire

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal asked
        asked += 1
        return await acquire(*args, **kwargs)

    remote.acquire = counted  # type: ignore[method-assign]
    bucket = [Bucket(f"{redis_prefix}hammered", Rate(requests=4, window_seconds=1, burst=2))]
    try:
        answers = [await limiter.check(bucket) for _ in range(200)]
        assert [a.allowed for a in answers[:3]] == [True, True, False]
        assert not any(a.allowed for a in answers[2:])
        assert asked == 2  # the second answer said "full for 0.25 s": the rest never left
        refusal = answers[-1]
        assert refusal.binding.remaining == 0
        assert 0 < refusal.retry_after_us <= 250_000
        await asyncio.sleep(refusal.retry_after_us / 1_000_000)
        assert (await limiter.check(bucket)).allowed  # Redis is asked again, and admits
        assert asked == 3
    finally:
        for task in runtime.background:
            task.cancel()
        await asyncio.gather(*runtime.background, return_exceptions=True)

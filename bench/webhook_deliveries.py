"""Webhook deliveries per second with 10% of endpoints failing, and the delay from an event's
commit to its first delivery attempt (p50, p99), embedded (SQLite, in-process bus) or, with
V100_BENCH_POSTGRES_URL (a server's admin URL: each run makes its own database and drops it)
and V100_BENCH_REDIS_URL set, on PostgreSQL and Redis. Everything runs on
127.0.0.1: the integration app in this process, a receiver served by uvicorn beside it.

Two runs, each on a fresh database: a burst (``--events`` published at once, drained as fast
as the service can: deliveries per second) and a steady flow (``--rate`` events a second for
``--seconds``, below capacity, as a healthy platform sends them: the delay from commit to first
attempt, which in a burst is only the backlog's length).

    .venv/bin/python bench/webhook_deliveries.py [--events 500] [--endpoints 20] [--rate 10]

Prints the figures and their ratio to issue 13's targets (>= 500 deliveries/s; p99 < 1 s)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from v100.contracts.events import VIDEO_STREAM
from v100.kit.auth import Principal
from v100.kit.bus import Event
from v100.kit.db import drop_database
from v100.kit.settings import PlatformSettings
from v100.kit.testing.db import fresh_postgres_url
from v100.kit.testing.http import auth_headers, running_app
from v100.kit.testing.servers import serving
from v100.services.integration.app import create_app
from v100.services.integration.settings import IntegrationSettings

SECRET = "bench-integration-secret-0123456789abcdef"  # noqa: S105 - a loopback bench's
POSTGRES = os.environ.get("V100_BENCH_POSTGRES_URL")
REDIS = os.environ.get("V100_BENCH_REDIS_URL")


async def run(events: int, endpoints: int, rate: float | None) -> list[tuple[float, str, int]]:
    """Publish ``events`` (all at once, or ``rate`` a second) to ``endpoints`` endpoints; the
    first attempts' (arrival, event time, status)."""
    arrivals: list[tuple[float, str, int]] = []
    all_in = asyncio.Event()
    expected = events * endpoints

    async def receive(request: Request) -> Response:
        body = orjson.loads(await request.body())
        status = 500 if request.url.path.startswith("/fail") else 200
        arrivals.append((time.time(), body["timestamp"], status))
        if len(arrivals) >= expected:
            all_in.set()
        return Response(status_code=status)

    receiver = Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])
    database_url = fresh_postgres_url(POSTGRES, prefix="v100_bench") if POSTGRES else None
    try:
        with tempfile.TemporaryDirectory() as scratch:
            await _run_in(scratch, database_url, receiver, events, endpoints, rate, all_in)
    finally:
        if database_url:
            await drop_database(database_url)
    if len(arrivals) < expected:
        print(f"only {len(arrivals)} of {expected} first attempts arrived within 600 s")
    return arrivals


async def _run_in(
    scratch: str,
    database_url: str | None,
    receiver: Starlette,
    events: int,
    endpoints: int,
    rate: float | None,
    all_in: asyncio.Event,
) -> None:
    platform = PlatformSettings(
        var_dir=Path(scratch),
        internal_token_secret=SECRET,
        redis_url=REDIS,
        log_level="WARNING",
    )
    settings = IntegrationSettings(
        platform=platform,
        database_url=database_url or f"sqlite+aiosqlite:///{scratch}/integration.db",
        allow_loopback_receivers=True,
        consume_from_start=False,
        consumer_group=f"bench-{uuid.uuid4().hex[:8]}",
        retry_schedule_seconds=(0, 3600),  # failures wait: the run measures first attempts
    )
    app = create_app(settings)
    tenant = str(uuid.uuid4())
    async with serving(receiver, lifespan="off") as url, running_app(app) as http:
        headers = auth_headers(
            app, Principal(tenant_id=tenant, user_id="b", scopes=frozenset({"*"}))
        )
        for n in range(endpoints):
            path = f"/fail{n}" if n < max(1, endpoints // 10) else f"/ok{n}"
            made = await http.post(
                "/v1/webhooks/endpoints", json={"url": url + path},
                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            )  # fmt: skip
            assert made.status_code == 201, made.text
        bus = app.state.runtime.bus
        started = time.monotonic()
        for n in range(events):
            if rate is not None:
                await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            event = Event(type="video.ready", source="bench", tenant_id=tenant,
                          data={"id": f"v{n}", "status": "ready"})  # fmt: skip
            await bus.publish(VIDEO_STREAM, event)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), 600)


def delays(arrivals: list[tuple[float, str, int]]) -> tuple[float, float]:
    """p50 and p99 of commit -> first attempt, in seconds."""
    ordered = sorted(a - datetime.fromisoformat(t).timestamp() for a, t, _ in arrivals)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]


async def main(events: int, endpoints: int, rate: float, seconds: float) -> None:
    backend = "PostgreSQL + Redis" if POSTGRES else "embedded (SQLite, in-process bus)"
    failing = max(1, endpoints // 10)
    print(f"backend: {backend}; {endpoints} endpoints, {failing} failing (500)")
    arrivals = await run(events, endpoints, None)
    took = max(a for a, _, _ in arrivals) - min(
        datetime.fromisoformat(t).timestamp() for _, t, _ in arrivals
    )
    throughput = len(arrivals) / took
    p50, p99 = delays(arrivals)
    print(f"burst: {events} events at once: {len(arrivals)} first attempts in {took:.2f} s = "
          f"{throughput:.0f}/s (ratio to the 500/s target: {throughput / 500:.2f}); "
          f"commit -> first attempt p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
          "(the backlog)")  # fmt: skip
    steady = int(rate * seconds)
    arrivals = await run(steady, endpoints, rate)
    p50, p99 = delays(arrivals)
    print(f"steady: {rate:g} events/s for {seconds:g} s ({rate * endpoints:g} deliveries/s): "
          f"commit -> first attempt p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
          f"(ratio of p99 to the 1 s target: {p99:.2f})")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--endpoints", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    options = parser.parse_args()
    asyncio.run(main(options.events, options.endpoints, options.rate, options.seconds))

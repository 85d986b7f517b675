"""Limiter accuracy (issue 3): two real gateway processes (``v100 serve gateway`` on two ports)
sharing one Redis and one SQLite gateway database, a limit of 100 per minute on one API key and
its tenant, 1,000 concurrent requests split across both. Prints how many passed (target: exactly
100) and the limiter's own time per request (its ``Server-Timing: ratelimit;dur=``), unloaded
and under the burst. Run by hand, not in CI:

    .venv/bin/python bench/limiter_accuracy.py [--requests 1000] [--limit 100] [--redis-url URL]

Without ``--redis-url`` it starts a private ``redis-server`` on a free loopback port."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis
import uvloop
from aiohttp import web

from _support import free_port, stop
from v100.services.gateway.edge.limits import Bucket, MemoryRateLimiter, Rate, RedisRateLimiter
from v100.services.gateway.edge.limits._gcra import Decision, RateLimiterBackend, evaluate
from v100.services.gateway.edge.limits._redis import RATE_SCRIPT
from v100.services.gateway.edge.limits._resp import PipelinedRedis

PYTHON = sys.executable
V100 = str(Path(sys.executable).with_name("v100"))
PASSWORD = "bench password, not a secret"  # noqa: S105
READY_TIMEOUT_S = 30.0


async def serve_upstream(port: int) -> None:
    """The service behind the gateway: answers every path with 200 at once."""

    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


def spawn(args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=sink)


async def wait_ready(
    http: aiohttp.ClientSession, url: str, process: subprocess.Popen[bytes]
) -> None:
    began = time.monotonic()
    while time.monotonic() - began < READY_TIMEOUT_S:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            async with http.get(f"{url}/ready") as answer:
                if answer.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} was not ready within {READY_TIMEOUT_S} s")


async def redis_ready(port: int) -> None:
    for _ in range(200):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.write(b"PING\r\n")
        answer = await reader.readline()
        writer.close()
        if answer.startswith(b"+PONG"):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer on port {port}")


async def api_key(http: aiohttp.ClientSession, gateway: str, name: str) -> str:
    """A tenant of its own and one API key of it (through the gateway's own API)."""
    body = {"email": f"{name}@example.com", "password": PASSWORD, "tenant_name": name}
    async with http.post(f"{gateway}/v1/auth/signup", json=body) as signup:
        assert signup.status == 201, await signup.text()
        token = (await signup.json())["access_token"]
    async with http.post(
        f"{gateway}/v1/api-keys",
        json={"name": name, "scopes": ["*"]},
        headers={"Authorization": f"Bearer {token}"},
    ) as created:
        assert created.status == 201, await created.text()
        key: str = (await created.json())["key"]
        return key


@dataclass
class Answer:
    status: int
    limiter_ms: float | None
    sent: float
    done: float


def limiter_ms(server_timing: str | None) -> float | None:
    for part in (server_timing or "").split(","):
        name, _, params = part.strip().partition(";")
        if name == "ratelimit" and params.startswith("dur="):
            return float(params.removeprefix("dur="))
    return None


async def call(http: aiohttp.ClientSession, url: str, key: str) -> Answer:
    sent = time.perf_counter()
    async with http.get(url, headers={"X-API-Key": key}) as answer:
        await answer.read()
        return Answer(
            answer.status,
            limiter_ms(answer.headers.get("Server-Timing")),
            sent,
            time.perf_counter(),
        )


def quantiles_us(values: Sequence[float]) -> str:
    ms = sorted(values)
    if not ms:
        return "no samples"
    cuts = statistics.quantiles(ms, n=100) if len(ms) > 1 else [ms[0]] * 99
    median = statistics.median(ms) * 1000
    return f"median {median:.0f} µs, p90 {cuts[89] * 1000:.0f} µs, p99 {cuts[98] * 1000:.0f} µs"


class RedisPyRateLimiter(RateLimiterBackend):
    """The same script through redis-py, for comparison with the limiter's own client."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._script = client.register_script(RATE_SCRIPT)

    async def acquire(self, buckets: Sequence[Bucket], *, now_us: int | None = None) -> Decision:
        args: list[int | str] = [""]
        for bucket in buckets:
            args += [bucket.rate.emission_us, bucket.rate.capacity_us]
        reply = await self._script(keys=[b.key for b in buckets], args=args)
        starts = [int(start) for start in reply[2:]]
        return evaluate(int(reply[1]), starts, buckets, allowed=int(reply[0]) == 1)[0]


async def limiter_alone(redis_url: str) -> None:
    """The limiter without HTTP around it: one request's decision against two buckets (tenant
    and API key), in-process and on Redis, one at a time and 1,000 in flight."""
    client = PipelinedRedis(redis_url, timeout=2.0)
    redis_py = aioredis.Redis(
        connection_pool=aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=64)
    )
    backends: dict[str, RateLimiterBackend] = {
        "in-process": MemoryRateLimiter(),
        "redis, the limiter's client": RedisRateLimiter(client),
        "redis, same script through redis-py": RedisPyRateLimiter(redis_py),
    }
    rate = Rate(10**7, 60, 10**7)
    buckets = [Bucket("bench:alone:t", rate), Bucket("bench:alone:k", rate)]
    try:
        for name, backend in backends.items():
            for _ in range(200):
                await backend.acquire(buckets)
            began = time.perf_counter()
            for _ in range(3000):
                await backend.acquire(buckets)
            one = (time.perf_counter() - began) / 3000
            began = time.perf_counter()
            await asyncio.gather(*(backend.acquire(buckets) for _ in range(1000)))
            many = (time.perf_counter() - began) / 1000
            print(
                f"limiter alone, {name}: {one * 1e6:.0f} µs per decision one at a time, "
                f"{many * 1e6:.0f} µs per decision with 1,000 in flight"
            )
    finally:
        await client.aclose()
        await redis_py.aclose()


async def measure(args: argparse.Namespace, gateways: Sequence[str]) -> int:
    path = "/v1/credits/bench"
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
    async with aiohttp.ClientSession(connector=connector) as http:
        burst_key = await api_key(http, gateways[0], "burst")
        latency_key = await api_key(http, gateways[0], "latency")

        # Unloaded: one request at a time through the first replica, allowed and limited alike.
        sequential = [
            await call(http, gateways[0] + path, latency_key) for _ in range(3 * args.limit)
        ]
        # The burst's connections opened beforehand (to /health, which is not limited), so the
        # burst measures the limiter, not TCP handshakes; the key resolved once per replica.
        per_gateway = args.requests // len(gateways) + 1
        for gateway in gateways:
            await asyncio.gather(
                *(http.get(f"{gateway}/health") for _ in range(per_gateway)), return_exceptions=True
            )
            await call(http, gateway + path, burst_key)
        # Those calls (and making the key) used the tenant's and key's buckets: let them refill.
        await asyncio.sleep(60 / args.limit * (len(gateways) + 2) + 0.5)

        began = time.perf_counter()
        burst = await asyncio.gather(
            *(
                call(http, gateways[n % len(gateways)] + path, burst_key)
                for n in range(args.requests)
            )
        )
        span = max(a.done for a in burst) - began

    statuses = Counter(a.status for a in burst)
    passed = statuses.get(200, 0)
    emission = 60 / args.limit
    # GCRA admits the burst, then one more per emission interval while the burst lasts.
    ceiling = args.limit + int(span / emission)
    print(f"limit: {args.limit} per minute per API key and per tenant (burst {args.limit})")
    print(f"requests: {args.requests} at once, split over {len(gateways)} gateway processes")
    print(f"answers: {dict(sorted(statuses.items()))}")
    print(f"passed: {passed} (target exactly {args.limit})")
    print(
        f"burst lasted {span * 1000:.0f} ms (first sent to last answered); GCRA refills one "
        f"request every {emission * 1000:.0f} ms, so at most {ceiling} may pass in that time"
    )
    for label, answers in (
        ("unloaded, one request at a time", sequential),
        ("in the burst", burst),
    ):
        for status, what in ((200, "allowed (a Redis round trip)"), (429, "refused")):
            times = [a.limiter_ms for a in answers if a.status == status and a.limiter_ms]
            print(f"limiter time, {label}, {what}, {len(times)} requests: {quantiles_us(times)}")
    exact = passed == args.limit
    print("verdict:", "exact" if exact else f"NOT exact ({passed - args.limit:+d})")
    return 0 if exact else 1


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="v100-limiter-bench-") as tmp:
        workdir = Path(tmp)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            redis_url = args.redis_url
            if redis_url is None:
                binary = shutil.which("redis-server")
                if binary is None:
                    print("redis-server is not installed (scripts/services/redis.sh start)")
                    return 2
                port = free_port()
                processes.append(
                    spawn(
                        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                         "--appendonly", "no", "--dir", tmp],
                        dict(os.environ),
                        workdir / "redis.log",
                    )
                )  # fmt: skip
                await redis_ready(port)
                redis_url = f"redis://127.0.0.1:{port}/0"
            upstream_port = free_port()
            processes.append(
                spawn(
                    [PYTHON, __file__, "--serve-upstream", str(upstream_port)],
                    dict(os.environ),
                    workdir / "upstream.log",
                )
            )
            limits = {
                "tiers": {
                    "free": {
                        "tenant": {"requests": args.limit},
                        "api_key": {"requests": args.limit},
                        "concurrent_requests": 2,
                    }
                }
            }
            env = {
                **os.environ,
                "V100_VAR_DIR": str(workdir / "var"),  # one SQLite gateway database for both
                "V100_REDIS_URL": redis_url,
                "V100_INTERNAL_TOKEN_SECRET": "bench-internal-secret-0123456789abcdef",
                "V100_GATEWAY_JWT_SECRET": "bench-jwt-secret-0123456789abcdef0123456789",
                "V100_GATEWAY_UPSTREAMS": json.dumps(
                    {"billing": f"http://127.0.0.1:{upstream_port}"}
                ),
                "V100_GATEWAY_RATE_LIMITS": json.dumps(limits),
                "V100_GATEWAY_PASSWORD_TIME_COST": "1",
                "V100_GATEWAY_PASSWORD_MEMORY_KIB": "8192",
                "V100_LOG_LEVEL": "WARNING",
            }
            gateways: list[str] = []
            async with aiohttp.ClientSession() as http:
                # One after the other: the first migrates the shared database.
                for n in range(2):
                    port = free_port()
                    process = spawn(
                        [V100, "serve", "gateway", "--port", str(port)],
                        env,
                        workdir / f"gateway-{n}.log",
                    )
                    processes.append(process)
                    url = f"http://127.0.0.1:{port}"
                    await wait_ready(http, url, process)
                    gateways.append(url)
            verdict = await measure(args, gateways)
            await limiter_alone(redis_url)
            return verdict
        finally:
            for process in reversed(processes):
                stop(process)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=100, help="requests per minute")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--serve-upstream", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    # uvloop, as ``v100 serve`` runs the gateway.
    if arguments.serve_upstream is not None:
        uvloop.run(serve_upstream(arguments.serve_upstream))
    sys.exit(uvloop.run(main(arguments)))

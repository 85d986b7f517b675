"""What one tenant can still take from another at the gateway (issue 11, row 4): tenant A holds
hundreds of stalled request bodies and floods a service with slow requests, while tenant B uses
the same service. Printed: B's success rate and median / p99 latency with A quiet and with A
attacking (the ratio is the figure: these machines are noisy), the most of the service's
in-flight budget A held at once, and how A's requests ended.

    python bench/fair_share.py [--stalled 300] [--slow 200] [--requests 300]

Real processes on loopback: a scripted upstream (``/v1/credits/slow`` answers after 2 s, every
other path at once) and ``v100 serve gateway`` with its defaults but the rate limits (off, so
what is measured is the in-flight share and the body timeouts, not the per-minute limits)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from starlette.types import Receive, Scope, Send

from _support import api_key, free_port, stop

PYTHON = sys.executable
V100 = str(Path(sys.executable).with_name("v100"))
SECRET = "bench-internal-token-secret-0123456789abcdef"  # noqa: S105 (a local bench value)
JWT = "bench-gateway-jwt-secret-0123456789abcdefghijkl"
SLOW_SECONDS = 2.0


def serve_upstream(port: int) -> None:
    import uvicorn

    state = {"in_flight": 0, "most": 0}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/stats":
            body = json.dumps(state).encode()
        else:
            while (await receive()).get("more_body"):
                pass
            state["in_flight"] += 1
            state["most"] = max(state["most"], state["in_flight"])
            try:
                if scope["path"].endswith("/slow"):
                    await asyncio.sleep(SLOW_SECONDS)
            finally:
                state["in_flight"] -= 1
            body = b'{"ok": true}'
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


def wait_http(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{url}: exited with {process.returncode}")
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within 60 s")


async def b_requests(gateway: str, key: str, count: int) -> tuple[float, list[float]]:
    """B's ``count`` sequential requests: the share that succeeded and each one's seconds."""
    times, ok = [], 0
    async with httpx.AsyncClient(base_url=gateway, trust_env=False, timeout=30) as http:
        for n in range(count):
            started = time.perf_counter()
            answer = await http.get(f"/v1/credits/b?n={n}", headers={"X-API-Key": key})
            times.append(time.perf_counter() - started)
            ok += answer.status_code == 200
    return ok / count, times


async def stalled_bodies(port: int, key: str, count: int, hold: asyncio.Event) -> list[bytes]:
    """``count`` connections that send 4 bytes of a 100-byte body, then nothing; each ends with
    what the gateway answered."""
    head = (
        f"POST /v1/credits/stalled HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {key}\r\n"
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a"'
    ).encode()

    async def one() -> bytes:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            return f"connect failed: {exc}".encode()
        writer.write(head)
        await writer.drain()
        try:
            return (await asyncio.wait_for(reader.read(200), timeout=60)) or b"closed"
        except (TimeoutError, OSError) as exc:
            return repr(exc).encode()
        finally:
            writer.close()

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    hold.set()
    return list(await asyncio.gather(*tasks))


async def slow_flood(gateway: str, key: str, count: int) -> Counter[int]:
    async with httpx.AsyncClient(
        base_url=gateway, trust_env=False, timeout=60, limits=httpx.Limits(max_connections=count)
    ) as http:
        answers = await asyncio.gather(
            *(
                http.get(f"/v1/credits/slow?n={n}", headers={"X-API-Key": key})
                for n in range(count)
            ),
            return_exceptions=True,
        )
    return Counter(a.status_code if isinstance(a, httpx.Response) else 0 for a in answers)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    args: argparse.Namespace, gateway_port: int, upstream_port: int, a_key: str, b_key: str
) -> None:
    gateway = f"http://127.0.0.1:{gateway_port}"
    quiet_ok, quiet = await b_requests(gateway, b_key, args.requests)
    hold = asyncio.Event()
    stalled = asyncio.create_task(stalled_bodies(gateway_port, a_key, args.stalled, hold))
    await hold.wait()
    await asyncio.sleep(0.5)
    flood = asyncio.create_task(slow_flood(gateway, a_key, args.slow))
    await asyncio.sleep(0.5)
    busy_ok, busy = await b_requests(gateway, b_key, args.requests)
    flood_outcomes = await flood
    stalled_outcomes = Counter(
        answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/1.1 ") else "other"
        for answer in await stalled
    )
    async with httpx.AsyncClient(trust_env=False) as client:
        most = (await client.get(f"http://127.0.0.1:{upstream_port}/stats")).json()["most"]
    print(f"tenant B, {args.requests} sequential requests each time")
    for name, ok, times in (("A quiet", quiet_ok, quiet), ("A attacking", busy_ok, busy)):
        print(
            f"  {name:12} success {ok:.1%}  median {statistics.median(times) * 1000:.2f} ms"
            f"  p99 {percentile(times, 0.99) * 1000:.2f} ms"
        )
    print(
        f"  ratio attacking/quiet: median x{statistics.median(busy) / statistics.median(quiet):.2f}"
        f", p99 x{percentile(busy, 0.99) / percentile(quiet, 0.99):.2f}"
    )
    print(f"tenant A: {args.slow} slow requests -> {dict(sorted(flood_outcomes.items()))}")
    print(f"tenant A: {args.stalled} stalled bodies -> {dict(sorted(stalled_outcomes.items()))}")
    print(f"most requests in flight at the service at once: {most} (budget 256, A's share 25%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stalled", type=int, default=300)
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    if args.upstream:
        serve_upstream(args.upstream)
        return
    workdir = Path(tempfile.mkdtemp(prefix="v100-bench-fair-"))
    upstream_port, gateway_port = free_port(), free_port()
    env = {
        **os.environ,
        "V100_VAR_DIR": str(workdir / "var"),
        "V100_INTERNAL_TOKEN_SECRET": SECRET,
        "V100_LOG_LEVEL": "WARNING",
        "V100_GATEWAY_JWT_SECRET": JWT,
        "V100_GATEWAY_UPSTREAMS": json.dumps({"billing": f"http://127.0.0.1:{upstream_port}"}),
        "V100_GATEWAY_RATE_LIMITS": '{"enabled": false}',
        "V100_GATEWAY_PASSWORD_TIME_COST": "1",
        "V100_GATEWAY_PASSWORD_MEMORY_KIB": "1024",
        "V100_GATEWAY_PASSWORD_PARALLELISM": "1",
    }
    env.pop("V100_REDIS_URL", None)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        upstream = subprocess.Popen([PYTHON, __file__, "--upstream", str(upstream_port)])
        processes.append(upstream)
        wait_http(f"http://127.0.0.1:{upstream_port}/stats", upstream)
        gateway = subprocess.Popen(
            [V100, "serve", "gateway", "--port", str(gateway_port)], env=env, cwd=workdir
        )
        processes.append(gateway)
        wait_http(f"http://127.0.0.1:{gateway_port}/ready", gateway)
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        keys = api_key(gateway_url), api_key(gateway_url)
        asyncio.run(measure(args, gateway_port, upstream_port, *keys))
    finally:
        for process in reversed(processes):
            stop(process)


if __name__ == "__main__":
    main()

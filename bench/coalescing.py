"""Request coalescing and cache hits through real gateway processes (issue 3's figure: "200
concurrent identical cacheable GETs reach the upstream once"), and requests/s on cache hits.
Run by hand, not in CI:

    .venv/bin/python bench/coalescing.py [--requests 200] [--seconds 10] [--connections 64]
                                         [--redis-url redis://127.0.0.1:56379/0]

It starts an origin service (the kit's app factory, internal tokens verified, 0.2 s per answer,
``Cache-Control: public, max-age=300``) standing in for billing, and `v100 serve gateway` in
front of it (rate limits off: the cache is measured, not the limiter). With a Redis URL (or
``V100_TEST_REDIS_URL`` set) it also runs two gateway processes sharing Redis and sends half of
the burst to each. Hits are loaded with ``wrk`` (Debian's, installed when missing and
possible), else with aiohttp from this process."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import aiohttp
import httpx
import uvicorn
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic_settings import SettingsConfigDict

from _support import api_key, free_port, stop
from v100.kit.http import PrincipalDep, ServiceSpec, create_service_app
from v100.kit.settings import PlatformSettings, ServiceSettings

PYTHON = sys.executable
V100 = str(Path(sys.executable).with_name("v100"))
SECRET = "bench-internal-token-secret-0123456789abcdef"  # noqa: S105 (a local bench value)
JWT = "bench-gateway-jwt-secret-0123456789abcdefghijkl"
ORIGIN_DELAY_S = 0.2
READY_TIMEOUT_S = 30.0


# --- the origin (run as a child: ``coalescing.py --origin PORT``) ---------------------------------


class OriginSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_BENCH_ORIGIN_", extra="ignore")
    service: ClassVar[str] = "bench_origin"


def serve_origin(port: int) -> None:
    hits: Counter[str] = Counter()
    router = APIRouter(prefix="/v1/credits")

    @router.get("/bench/{name}")
    async def resource(name: str, principal: PrincipalDep) -> JSONResponse:
        """A cacheable answer that takes a while to make."""
        hits[name] += 1
        await asyncio.sleep(ORIGIN_DELAY_S)
        body = {"name": name, "tenant_id": principal.tenant_id, "padding": "x" * 512}
        return JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})

    @router.get("/hits/{name}")
    async def count(name: str, principal: PrincipalDep) -> dict[str, int]:
        """How many requests for ``name`` reached this origin."""
        return {"hits": hits[name]}

    platform = PlatformSettings(internal_token_secret=SECRET, log_level="WARNING")
    app = create_service_app(
        ServiceSpec(OriginSettings(platform=platform), title="origin", routers=[router])
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


# --- processes ------------------------------------------------------------------------------


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{url}: exited with {process.returncode}")
            try:
                if client.get(f"{url}/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"{url} was not ready within {READY_TIMEOUT_S} s")


def gateway_env(
    workdir: Path, origin_port: int, redis_url: str | None, prefix: str
) -> dict[str, str]:
    env = {
        **os.environ,
        "V100_VAR_DIR": str(workdir / "var"),
        "V100_INTERNAL_TOKEN_SECRET": SECRET,
        "V100_LOG_LEVEL": "WARNING",
        "V100_GATEWAY_JWT_SECRET": JWT,
        # Replicas share one identity database, as they would share PostgreSQL.
        "V100_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/identity.db",
        "V100_GATEWAY_UPSTREAMS": f'{{"billing": "http://127.0.0.1:{origin_port}"}}',
        "V100_GATEWAY_RATE_LIMITS": '{"enabled": false}',
        "V100_GATEWAY_PASSWORD_TIME_COST": "1",
        "V100_GATEWAY_PASSWORD_MEMORY_KIB": "1024",
        "V100_GATEWAY_PASSWORD_PARALLELISM": "1",
        "V100_GATEWAY_RESPONSE_CACHE_REDIS_PREFIX": prefix,
    }
    env.pop("V100_REDIS_URL", None)
    if redis_url is not None:
        env["V100_REDIS_URL"] = redis_url
    return env


def start_gateway(env: dict[str, str], workdir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    log = (workdir / f"gateway-{port}.log").open("wb")
    process = subprocess.Popen(
        [V100, "serve", "gateway", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process)
    return url, process


def origin_hits(gateway: str, key: str, name: str) -> int:
    # Through the gateway too: the count endpoint answers without caching headers.
    with httpx.Client(base_url=gateway, timeout=10.0, trust_env=False) as http:
        answer = http.get(f"/v1/credits/hits/{name}", headers={"X-API-Key": key})
        answer.raise_for_status()
        return int(answer.json()["hits"])


# --- measurements ---------------------------------------------------------------------------


async def burst(gateways: Sequence[str], key: str, path: str, total: int) -> Counter[str]:
    """``total`` concurrent identical GETs spread over ``gateways``; the Cache-Status counts."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(index: int) -> str:
            url = gateways[index % len(gateways)] + path
            async with session.get(url, headers={"X-API-Key": key}) as response:
                await response.read()
                if response.status != 200:
                    return f"status {response.status}"
                status = response.headers.get("cache-status", "")
                if "; hit" in status:
                    return "hit"
                if "collapsed=?0" in status:
                    return "released"
                return "coalesced" if "collapsed" in status else "miss"

        outcomes = await asyncio.gather(*(one(index) for index in range(total)))
    return Counter(outcomes)


def hits_per_second_wrk(url: str, key: str, seconds: int, connections: int) -> float:
    result = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "-H",
            f"X-API-Key: {key}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    if non_2xx:
        raise RuntimeError(f"wrk saw {non_2xx.group(1)} failed answers:\n{result.stdout}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{result.stdout}")
    return float(match.group(1))


async def hits_per_second_aiohttp(url: str, key: str, seconds: int, connections: int) -> float:
    connector = aiohttp.TCPConnector(limit=connections)
    done = 0
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with session.get(url, headers={"X-API-Key": key}) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"status {response.status}")
                done += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
    return done / (time.perf_counter() - began)


def ensure_wrk() -> bool:
    if shutil.which("wrk"):
        return True
    if os.geteuid() != 0:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    if subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, **quiet).returncode:
        subprocess.run(["apt-get", "update"], check=False, **quiet)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, **quiet)
    return shutil.which("wrk") is not None


def run(
    label: str,
    replicas: int,
    redis_url: str | None,
    origin_port: int,
    args: argparse.Namespace,
    use_wrk: bool,
) -> None:
    with tempfile.TemporaryDirectory(prefix="v100-bench-") as tmp:
        workdir = Path(tmp)
        env = gateway_env(workdir, origin_port, redis_url, f"bench:{uuid.uuid4().hex[:8]}:rc:")
        processes: list[subprocess.Popen[bytes]] = []
        try:
            gateways: list[str] = []
            for _ in range(replicas):
                url, process = start_gateway(env, workdir)
                gateways.append(url)
                processes.append(process)
            key = api_key(gateways[0])
            name = uuid.uuid4().hex[:12]
            path = f"/v1/credits/bench/{name}"
            outcomes = asyncio.run(burst(gateways, key, path, args.requests))
            reached = origin_hits(gateways[0], key, name)
            print(f"\n{label}")
            print(
                f"  coalescing: {args.requests} concurrent identical GETs over {replicas} "
                f"gateway process(es) -> the upstream was reached {reached} time(s) (target 1)"
            )
            print("  answers: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
            target = gateways[0] + path  # cached now
            if use_wrk:
                rate = hits_per_second_wrk(target, key, args.seconds, args.connections)
                tool = f"wrk -t2 -c{args.connections}"
            else:
                rate = asyncio.run(
                    hits_per_second_aiohttp(target, key, args.seconds, args.connections)
                )
                tool = f"aiohttp, {args.connections} connections"
            print(
                f"  cache hits: {rate:,.0f} requests/s on one gateway process ({tool}, "
                f"{args.seconds} s, API key auth cached)"
            )
        finally:
            for process in processes:
                stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--origin", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--redis-url", default=os.environ.get("V100_TEST_REDIS_URL"))
    args = parser.parse_args()
    if args.origin:
        serve_origin(args.origin)
        return
    use_wrk = ensure_wrk()
    origin_port = free_port()
    origin = subprocess.Popen(
        [PYTHON, __file__, "--origin", str(origin_port)],
        env={**os.environ, "V100_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{origin_port}", origin)
        print(f"machine: {os.cpu_count()} CPUs; origin answers in {ORIGIN_DELAY_S:.1f} s")
        run("embedded (L1 only, one gateway process)", 1, None, origin_port, args, use_wrk)
        if args.redis_url:
            run(
                "distributed (L1 + Redis L2, two gateway processes sharing Redis)",
                2,
                args.redis_url,
                origin_port,
                args,
                use_wrk,
            )
        else:
            print("\n(no --redis-url / V100_TEST_REDIS_URL: the two-replica run was skipped)")
    finally:
        stop(origin)


if __name__ == "__main__":
    main()

"""Webhook deliveries across a ``kill -9``: the integration service (``v100 serve integration``
on PostgreSQL and Redis) is killed while it delivers a burst, started again, and the receiver
counts what arrived. Every event must reach every endpoint (no loss), and every delivery of one
event carry one ``webhook-id`` (a receiver dedupes on it; an attempt repeated after the kill is
allowed, a second id is not).

    V100_BENCH_POSTGRES_URL=postgresql+asyncpg://...@127.0.0.1:55432/postgres \\
    V100_BENCH_REDIS_URL=redis://127.0.0.1:56379/0 \\
    .venv/bin/python bench/webhook_kill.py [--events 500] [--endpoints 10] [--kill-at 0.4]

Prints deliveries per second before the kill, the number lost, repeated and with a second id."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from v100.contracts.events import VIDEO_STREAM
from v100.kit.auth import InternalTokens, Principal
from v100.kit.bus import Event, create_bus
from v100.kit.db import drop_database
from v100.kit.testing.db import fresh_postgres_url
from v100.kit.testing.net import free_port
from v100.kit.testing.servers import serving

SECRET = "bench-integration-secret-0123456789abcdef"  # noqa: S105 - a loopback bench's
V100 = str(Path(sys.executable).with_name("v100"))


async def start(env: dict[str, str], port: int, log: Path) -> asyncio.subprocess.Process:
    with log.open("a") as output:
        process = await asyncio.create_subprocess_exec(
            V100, "serve", "integration", "--port", str(port), env=env,
            stdout=output, stderr=output, start_new_session=True,
        )  # fmt: skip
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for _ in range(600):
            try:
                if (await http.get("/ready")).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"integration not ready: {(await asyncio.to_thread(log.read_text))[-2000:]}")


async def main(events: int, endpoints: int, kill_at: float) -> None:
    postgres, redis = os.environ["V100_BENCH_POSTGRES_URL"], os.environ["V100_BENCH_REDIS_URL"]
    # endpoint path -> event number -> webhook-ids seen; and how many arrived in all
    seen: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    arrivals: list[float] = []
    kill_now, complete = asyncio.Event(), asyncio.Event()

    async def receive(request: Request) -> Response:
        body = orjson.loads(await request.body())
        seen[request.url.path][body["data"]["n"]].append(request.headers["webhook-id"])
        arrivals.append(time.monotonic())
        if len(arrivals) >= expected * kill_at:
            kill_now.set()
        if all(len(seen[f"/hook{n}"]) == events for n in range(endpoints)):
            complete.set()
        return Response(status_code=204)

    receiver = Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])
    database_url = fresh_postgres_url(postgres, prefix="v100_bench")
    tenant = str(uuid.uuid4())
    token = InternalTokens(SECRET, 3600).mint(
        Principal(tenant_id=tenant, user_id="bench", scopes=frozenset({"*"}))
    )
    port = free_port()
    expected = events * endpoints
    bus = create_bus(redis)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            env = {
                **os.environ,
                "V100_VAR_DIR": scratch,
                "V100_INTERNAL_TOKEN_SECRET": SECRET,
                "V100_LOG_LEVEL": "WARNING",
                "V100_REDIS_URL": redis,
                "V100_INTEGRATION_DATABASE_URL": database_url,
                "V100_INTEGRATION_ALLOW_LOOPBACK_RECEIVERS": "true",
                "V100_INTEGRATION_CONSUMER_GROUP": f"bench-kill-{uuid.uuid4().hex[:8]}",
                "V100_INTEGRATION_CONSUME_FROM_START": "false",
                "V100_INTEGRATION_DELIVERY_LEASE_SECONDS": "2",
            }
            log = Path(scratch) / "integration.log"
            async with serving(receiver, lifespan="off") as url:
                process = await start(env, port, log)
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}",
                    headers={"Authorization": f"Bearer {token}"},
                ) as http:
                    for n in range(endpoints):
                        made = await http.post(
                            "/v1/webhooks/endpoints", json={"url": f"{url}/hook{n}"},
                            headers={"Idempotency-Key": f"endpoint-{n}"},
                        )  # fmt: skip
                        assert made.status_code == 201, made.text
                started = time.monotonic()
                for n in range(events):
                    event = Event(type="video.ready", source="bench", tenant_id=tenant,
                                  data={"id": f"v{n}", "n": n})  # fmt: skip
                    await bus.publish(VIDEO_STREAM, event)
                await kill_now.wait()
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
                killed, before_kill = time.monotonic(), len(arrivals)
                process = await start(env, port, log)
                restarted = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(complete.wait(), 300)
                finished = time.monotonic()
                await asyncio.sleep(3)  # any late repeat of an attempt is counted too
                os.killpg(process.pid, signal.SIGTERM)
                await process.wait()
    finally:
        await bus.close()
        await drop_database(database_url)
    lost = sum(events - len(seen[f"/hook{n}"]) for n in range(endpoints))
    ids = [ids for by_event in seen.values() for ids in by_event.values()]
    repeated = sum(len(i) - 1 for i in ids)
    second_ids = sum(len(set(i)) - 1 for i in ids)
    rate = before_kill / (killed - started)
    print(f"PostgreSQL + Redis; {endpoints} endpoints x {events} events = {expected} deliveries; "
          f"killed (SIGKILL) after {before_kill}")  # fmt: skip
    print(f"before the kill: {rate:.0f} deliveries/s (ratio to the 500/s target: {rate / 500:.2f})")
    print(f"restart {restarted - killed:.1f} s; all delivered {finished - restarted:.1f} s after "
          f"(unacknowledged events come back after the bus's redelivery idle time)")  # fmt: skip
    print(f"lost: {lost}; attempts repeated after the kill: {repeated}; "
          f"events delivered under a second webhook-id: {second_ids}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--kill-at", type=float, default=0.4)
    options = parser.parse_args()
    asyncio.run(main(options.events, options.endpoints, options.kill_at))

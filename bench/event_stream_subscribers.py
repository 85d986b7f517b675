"""Event stream subscribers held by one integration process: its memory per SSE subscriber, the
CPU it spends while they wait, and how long one event takes to reach all of them (p50, p99).

The integration service runs as ``v100 serve integration`` (SQLite, in-process bus) in a
process of its own, so its resident memory is its own; the subscribers are aiohttp clients in
this process, on loopback. One event (a test message, which the stream carries like any other)
is sent once all are connected.

    .venv/bin/python bench/event_stream_subscribers.py [--subscribers 1000 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from v100.kit.auth import InternalTokens, Principal
from v100.kit.testing.net import free_port

SECRET = "bench-integration-secret-0123456789abcdef"  # noqa: S105 - a loopback bench's
V100 = str(Path(sys.executable).with_name("v100"))
TICKS = os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def subscriber(
    http: aiohttp.ClientSession, url: str, connected: asyncio.Event, arrived: list[float]
) -> None:
    async with http.get(url, headers={"Accept": "text/event-stream"}) as answer:
        assert answer.status == 200, (answer.status, await answer.text())
        connected.set()
        async for line in answer.content:
            if line.startswith(b"data:"):
                arrived.append(time.monotonic())
                return


async def measure(count: int) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    tenant = "01a25000-0000-7000-8000-000000000001"
    token = InternalTokens(SECRET, 3600).mint(
        Principal(tenant_id=tenant, user_id="bench", scopes=frozenset({"*"}))
    )
    headers = {"Authorization": f"Bearer {token}"}
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            **os.environ,
            "V100_VAR_DIR": scratch,
            "V100_INTERNAL_TOKEN_SECRET": SECRET,
            "V100_LOG_LEVEL": "WARNING",
            "V100_INTEGRATION_DATABASE_URL": f"sqlite+aiosqlite:///{scratch}/integration.db",
            "V100_INTEGRATION_ALLOW_LOOPBACK_RECEIVERS": "true",
            "V100_INTEGRATION_RETRY_SCHEDULE_SECONDS": "[0]",
            # The platform holds 4,096 connections a process by default; the bench asks more.
            "V100_HTTP_MAX_CONNECTIONS": "20000",
        }
        server = await asyncio.create_subprocess_exec(
            V100, "serve", "integration", "--port", str(port), env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            connector = aiohttp.TCPConnector(limit=0)
            timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
            async with aiohttp.ClientSession(
                base_url=base, headers=headers, connector=connector, timeout=timeout
            ) as http:
                for _ in range(300):
                    try:
                        async with http.get("/ready") as ready:
                            if ready.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    await asyncio.sleep(0.1)
                async with http.post(
                    "/v1/webhooks/endpoints",
                    json={"url": f"http://127.0.0.1:{free_port()}/closed"},
                    headers={"Idempotency-Key": "bench"},
                ) as made:
                    endpoint = (await made.json())["id"]
                await asyncio.sleep(1.0)
                idle_rss = rss_mib(server.pid)
                arrived: list[float] = []
                events = [asyncio.Event() for _ in range(count)]
                tasks = [
                    asyncio.create_task(
                        subscriber(http, "/v1/events-stream/sse", events[n], arrived)
                    )
                    for n in range(count)
                ]
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 120)
                await asyncio.sleep(2.0)
                held_rss = rss_mib(server.pid)
                cpu_before, wall_before = cpu_seconds(server.pid), time.monotonic()
                await asyncio.sleep(5.0)
                idle_cpu = (cpu_seconds(server.pid) - cpu_before) / (time.monotonic() - wall_before)
                sent = time.monotonic()
                async with http.post(
                    f"/v1/webhooks/endpoints/{endpoint}/test",
                    json={"event_type": "webhook.test"},
                    headers={"Idempotency-Key": "bench-event"},
                ) as answer:
                    assert answer.status == 202, await answer.text()
                await asyncio.wait_for(asyncio.gather(*tasks), 120)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            await server.wait()
    delays = sorted(at - sent for at in arrived)
    p99 = delays[max(0, int(len(delays) * 0.99) - 1)]
    per = (held_rss - idle_rss) * 1024 / count
    print(f"{count} SSE subscribers: RSS {idle_rss:.0f} -> {held_rss:.0f} MiB "
          f"({per:.1f} KiB each); CPU while they wait {idle_cpu * 100:.0f}% of a core; "
          f"one event reached all in p50 {statistics.median(delays) * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms")  # fmt: skip


async def main(counts: list[int]) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"open files: {hard}")
    for count in counts:
        await measure(count)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[100, 1000])
    options = parser.parse_args()
    asyncio.run(main(options.subscribers))

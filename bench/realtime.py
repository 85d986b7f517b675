"""realtime under load: memory per held socket, and fan-out latency (a state change from one
participant, sent to received by each other member of its room) with 1,000 sockets in 100 rooms
of 10, embedded and, with ``--redis URL``, on Redis.

The service runs as ``v100 serve realtime`` in a process of its own, so its resident memory is
its own; the clients are websockets clients in this process, on loopback (they send heartbeats).
Clients and server share the machine's cores: the load average is printed.

    .venv/bin/python bench/realtime.py [--sockets 2000] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from v100.contracts.meeting_tokens import MeetingGrants, MeetingToken, MeetingTokens
from v100.kit.testing.net import free_port

SECRET = "bench-realtime-secret-0123456789abcdef00"  # noqa: S105 - a loopback bench's
V100 = str(Path(sys.executable).with_name("v100"))
TOKENS = MeetingTokens(SECRET)
ROOM_SIZE = 10
# (sender, its n-th change) -> when each receiver got it.
Arrivals = defaultdict[tuple[str, int], list[float]]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def token(meeting: str, participant_id: str) -> str:
    return TOKENS.mint(
        MeetingToken(
            tenant_id="bench", meeting_id=meeting, participant_id=participant_id,
            name="bench", role="participant", grants=MeetingGrants(),
            expires_at=int(time.time()) + 3600,
        )
    )  # fmt: skip


class Client:
    """A joined socket that beats and notes when each participant.updated arrives."""

    def __init__(self, socket: ClientConnection, participant_id: str, arrivals: Arrivals):
        self.socket = socket
        self.participant_id = participant_id
        self.arrivals = arrivals
        self.changes = 0
        self.counts: dict[str, int] = defaultdict(int)
        self.tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._beat())]

    @classmethod
    async def join(cls, url: str, meeting: str, arrivals: Arrivals) -> Client:
        socket = await websockets.connect(
            url + meeting, proxy=None, compression=None, open_timeout=60, ping_interval=None
        )
        participant_id = uuid.uuid4().hex[:12]
        await socket.send(json.dumps({"type": "join", "token": token(meeting, participant_id)}))
        while json.loads(await socket.recv())["type"] != "joined":
            pass
        return cls(socket, participant_id, arrivals)

    async def _read(self) -> None:
        try:
            async for raw in self.socket:
                message = json.loads(raw)
                if message["type"] == "participant.updated":
                    sender = message["participant_id"]
                    self.counts[sender] += 1
                    self.arrivals[(sender, self.counts[sender])].append(time.perf_counter())
        except websockets.ConnectionClosed:
            pass

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(4.0)
            await self.socket.send('{"type": "heartbeat"}')

    async def change(self) -> tuple[str, int]:
        self.changes += 1
        speaking = self.changes % 2 == 1
        await self.socket.send(json.dumps({"type": "state", "speaking": speaking}))
        return self.participant_id, self.changes

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.socket.close()


async def started(redis_url: str | None, scratch: str) -> tuple[Any, str]:
    port = free_port()
    env = {
        **os.environ,
        "V100_VAR_DIR": scratch,
        "V100_INTERNAL_TOKEN_SECRET": SECRET,
        "V100_LOG_LEVEL": "WARNING",
        # Tokens of made-up meetings: the socket path alone, without asking meeting where each
        # holder stands (ADR 0061; a bench of admission through meeting is not written yet).
        "V100_REALTIME_CHECK_STANDING": "false",
        "V100_HTTP_MAX_CONNECTIONS": "20000",
    }
    if redis_url:
        env["V100_REDIS_URL"] = redis_url
    server = await asyncio.create_subprocess_exec(
        V100, "serve", "realtime", "--port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"ws://127.0.0.1:{port}/v1/realtime/rooms/"
    for _ in range(300):
        try:
            probe = await Client.join(url, uuid.uuid4().hex, defaultdict(list))
            await probe.close()
            break
        except OSError:
            await asyncio.sleep(0.1)
    return server, url


async def join_all(url: str, count: int, arrivals: Arrivals) -> list[Client]:
    meetings = [uuid.uuid4().hex for _ in range(max(1, count // ROOM_SIZE))]
    clients: list[Client] = []
    for start in range(0, count, 100):
        clients += await asyncio.gather(
            *(Client.join(url, meetings[n % len(meetings)], arrivals)
              for n in range(start, min(count, start + 100)))
        )  # fmt: skip
    return clients


async def memory(count: int, redis_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        server, url = await started(redis_url, scratch)
        try:
            await asyncio.sleep(1.0)
            idle = rss_mib(server.pid)
            clients = await join_all(url, count, defaultdict(list))
            await asyncio.sleep(5.0)  # a round of heartbeats
            held = rss_mib(server.pid)
            for client in clients:
                await client.close()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            await server.wait()
    per = (held - idle) * 1024 / count
    where = "Redis" if redis_url else "embedded"
    print(f"{count} sockets in {count // ROOM_SIZE} rooms ({where}): RSS {idle:.0f} -> "
          f"{held:.0f} MiB, {per:.1f} KiB a socket; load {load()}")  # fmt: skip


async def fan_out(count: int, seconds: float, rate: float, redis_url: str | None) -> None:
    arrivals: Arrivals = defaultdict(list)
    sent: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        server, url = await started(redis_url, scratch)
        try:
            clients = await join_all(url, count, arrivals)
            await asyncio.sleep(1.0)
            n, began = 0, time.perf_counter()
            while time.perf_counter() - began < seconds:
                sender = clients[n % len(clients)]
                at = time.perf_counter()
                sent[await sender.change()] = at
                n += 1
                await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
            await asyncio.sleep(2.0)
            for client in clients:
                await client.close()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            await server.wait()
    delays = sorted((t - at) * 1000 for key, at in sent.items() for t in arrivals.get(key, []))
    expected = len(sent) * ROOM_SIZE  # the sender hears its own change too
    p99 = delays[max(0, int(len(delays) * 0.99) - 1)]
    where = "Redis" if redis_url else "embedded"
    print(f"fan-out, {count} sockets in {count // ROOM_SIZE} rooms, {rate:.0f} changes/s for "
          f"{seconds:.0f} s ({where}): {len(delays)}/{expected} deliveries, "
          f"p50 {statistics.median(delays):.2f} ms, p99 {p99:.2f} ms, max {delays[-1]:.1f} ms; "
          f"load {load()}")  # fmt: skip


async def main(options: argparse.Namespace) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"open files: {hard}; load average at start {load()}")
    for count in options.sockets:
        await memory(count, None)
    await fan_out(1000, options.seconds, options.rate, None)
    if options.redis:
        await fan_out(1000, options.seconds, options.rate, options.redis)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sockets", type=int, nargs="+", default=[2000])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0, help="state changes per second")
    parser.add_argument("--redis", help="also measure the fan-out with the store on Redis")
    asyncio.run(main(parser.parse_args()))

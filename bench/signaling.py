"""meeting_signaling under load: memory per held socket at 5,000 sockets in one process (the
issue's target: under 40 KB each), and relay latency (an offer from one peer to another in its
room, sent to received) with 1,000 sockets in 100 rooms (target: p99 under 20 ms), embedded and,
with ``--redis URL``, on Redis.

The service runs as ``v100 serve meeting_signaling`` in a process of its own, so its resident
memory is its own; the peers are websockets clients in this process, on loopback (they answer
the server's pings). Clients and server share the machine's cores: the load average is printed.

    .venv/bin/python bench/signaling.py [--sockets 5000] [--redis redis://127.0.0.1:6379/0]
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
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from v100.contracts.meeting_tokens import MeetingGrants, MeetingToken, MeetingTokens
from v100.kit.testing.net import free_port

SECRET = "bench-signaling-secret-0123456789abcdef"  # noqa: S105 - a loopback bench's
V100 = str(Path(sys.executable).with_name("v100"))
TOKENS = MeetingTokens(SECRET)
ROOM_SIZE = 10


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def token(meeting: str) -> str:
    return TOKENS.mint(
        MeetingToken(
            tenant_id="bench", meeting_id=meeting, participant_id=uuid.uuid4().hex[:12],
            name="bench", role="participant", grants=MeetingGrants(),
            expires_at=int(time.time()) + 3600,
        )
    )  # fmt: skip


class Client:
    """A joined socket that answers pings and notes when each offer arrives."""

    def __init__(self, socket: ClientConnection, session_id: str, arrived: dict[str, float]):
        self.socket = socket
        self.session_id = session_id
        self.arrived = arrived
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def join(cls, url: str, meeting: str, arrived: dict[str, float]) -> Client:
        socket = await websockets.connect(
            url + meeting, proxy=None, compression=None, open_timeout=60, ping_interval=None
        )
        await socket.send(json.dumps({"type": "join", "token": token(meeting)}))
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == "joined":
                return cls(socket, message["session_id"], arrived)

    async def _read(self) -> None:
        try:
            async for raw in self.socket:
                message = json.loads(raw)
                if message["type"] == "ping":
                    await self.socket.send(json.dumps({"type": "pong", "id": message["id"]}))
                elif message["type"] == "offer":
                    mark = message["sdp"].split("\r\n")[2][2:]  # the s= line
                    self.arrived[mark] = time.perf_counter()
        except websockets.ConnectionClosed:
            pass

    async def offer(self, to: str, mark: str) -> None:
        sdp = f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns={mark}\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
        await self.socket.send(json.dumps({"type": "offer", "to": to, "sdp": sdp}))


async def started(redis_url: str | None, scratch: str) -> tuple[Any, str]:
    port = free_port()
    env = {
        **os.environ,
        "V100_VAR_DIR": scratch,
        "V100_INTERNAL_TOKEN_SECRET": SECRET,
        "V100_LOG_LEVEL": "WARNING",
        # Tokens of made-up meetings: the socket path alone, without asking meeting where each
        # holder stands (ADR 0061; a bench of admission through meeting is not written yet).
        "V100_MEETING_SIGNALING_CHECK_STANDING": "false",
        # The platform holds 4,096 connections a process by default; the bench asks more.
        "V100_HTTP_MAX_CONNECTIONS": "20000",
    }
    if redis_url:
        env["V100_REDIS_URL"] = redis_url
    server = await asyncio.create_subprocess_exec(
        V100, "serve", "meeting_signaling", "--port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"ws://127.0.0.1:{port}/v1/signaling/rooms/"
    for _ in range(300):
        try:
            probe = await Client.join(url, uuid.uuid4().hex, {})
            await probe.socket.close()
            break
        except OSError:
            await asyncio.sleep(0.1)
    return server, url


async def join_all(url: str, count: int, arrived: dict[str, float]) -> list[Client]:
    meetings = [uuid.uuid4().hex for _ in range(max(1, count // ROOM_SIZE))]
    clients: list[Client] = []
    for start in range(0, count, 100):
        clients += await asyncio.gather(
            *(Client.join(url, meetings[n % len(meetings)], arrived)
              for n in range(start, min(count, start + 100)))
        )  # fmt: skip
    return clients


async def memory(count: int, redis_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        server, url = await started(redis_url, scratch)
        try:
            await asyncio.sleep(1.0)
            idle = rss_mib(server.pid)
            clients = await join_all(url, count, {})
            await asyncio.sleep(6.0)  # a round of pings answered
            held = rss_mib(server.pid)
            alive = sum(not c.reader.done() for c in clients)
            for client in clients:
                await client.socket.close()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            await server.wait()
    per = (held - idle) * 1024 / count
    print(f"{count} sockets ({alive} still joined after a ping round): RSS {idle:.0f} -> "
          f"{held:.0f} MiB, {per:.1f} KiB a socket ({per / 40:.2f}x the 40 KB target); "
          f"load {load()}")  # fmt: skip


async def latency(count: int, seconds: float, rate: float, redis_url: str | None) -> None:
    arrived: dict[str, float] = {}
    sent: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        server, url = await started(redis_url, scratch)
        try:
            clients = await join_all(url, count, arrived)
            # Each client's partner is the next one in its room.
            rooms = len(clients) // ROOM_SIZE
            pairs = [(clients[n], clients[(n + rooms) % len(clients)]) for n in range(count)]
            await asyncio.sleep(1.0)
            n, began = 0, time.perf_counter()
            while time.perf_counter() - began < seconds:
                sender, receiver = pairs[n % len(pairs)]
                mark = f"m{n}"
                sent[mark] = time.perf_counter()
                await sender.offer(receiver.session_id, mark)
                n += 1
                await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
            await asyncio.sleep(2.0)
            for client in clients:
                await client.socket.close()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            await server.wait()
    delays = sorted((arrived[m] - t) * 1000 for m, t in sent.items() if m in arrived)
    p99 = delays[max(0, int(len(delays) * 0.99) - 1)]
    where = "Redis" if redis_url else "embedded"
    print(f"relay, {count} sockets in {count // ROOM_SIZE} rooms, {rate:.0f} offers/s for "
          f"{seconds:.0f} s ({where}): {len(delays)}/{len(sent)} "
          f"arrived, p50 {statistics.median(delays):.2f} ms, p99 {p99:.2f} ms "
          f"({p99 / 20:.2f}x the 20 ms target), max {delays[-1]:.1f} ms; "
          f"load {load()}")  # fmt: skip


async def main(options: argparse.Namespace) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"open files: {hard}; load average at start {load()}")
    for count in options.sockets:
        await memory(count, None)
    await latency(1000, options.seconds, options.rate, None)
    if options.redis:
        await latency(1000, options.seconds, options.rate, options.redis)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sockets", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0, help="offers per second, in all")
    parser.add_argument("--redis", help="also measure the relay with the directory on Redis")
    asyncio.run(main(parser.parse_args()))

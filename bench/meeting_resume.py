"""How long a peer takes to get media flowing again after its network drops for 5 s (issue 17),
with aiortc peers. Peer B runs in a network namespace of its own, joined to the host by a veth
pair; its link is taken down for ``--outage`` seconds, which drops its WebSocket and its WebRTC
UDP alike (Chrome's offline emulation drops neither WebRTC media nor an open socket). Peer A and
``v100 serve meeting_signaling`` stay on the host (the server on the veth's host address: the
only one B can reach; nothing listens beyond this machine).

Each peer sends an audio track (aiortc's 20 ms frames of silence, Opus over SRTP); the figure
for one drop is the time from the link coming back to the first frame received in each
direction, the later of the two (media flowing both ways). Two client behaviours are measured
in the same run, ``--drops`` times each:

- ``keep``: B's client resumes its signaling session (the same session id, what it missed) and
  keeps its peer connection: ICE consent outlasts 5 s, so the old path carries on;
- ``restart``: it resumes, then renegotiates on a new peer connection, as a client does whose
  ICE went "failed" (aiortc has no ICE restart: a new connection is that plus a new DTLS
  handshake, an upper bound on an ICE restart).

The ratio printed is restart / keep. Needs root (ip netns).

    .venv/bin/python bench/meeting_resume.py [--drops 5] [--outage 5] [--verbose]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aioice.ice
import websockets
from aiortc import (
    AudioStreamTrack,
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from websockets.asyncio.client import ClientConnection

from v100.contracts.meeting_tokens import MeetingGrants, MeetingToken, MeetingTokens
from v100.kit.testing.net import free_port

SECRET = "bench-meeting-resume-secret-0123456789abcdef"  # noqa: S105 - a local bench's
TOKENS = MeetingTokens(SECRET)
V100 = str(Path(sys.executable).with_name("v100"))
GAP = 0.5  # a pause in arrivals this long is a drop; the next frame ends it
VERBOSE = False  # --verbose: when each drop was noticed and resumed, each gap


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def token(meeting: str, participant: str) -> str:
    return TOKENS.mint(
        MeetingToken(
            tenant_id="bench", meeting_id=meeting, participant_id=participant,
            name=participant, role="participant", grants=MeetingGrants(),
            expires_at=int(time.time()) + 3600,
        )
    )  # fmt: skip


def sh(*args: str) -> None:
    subprocess.run(args, check=True)


class Link:
    """A network namespace joined to the host by a veth pair: host ``10.x.y.1``, inside
    ``10.x.y.2``; ``down()``/``up()`` take the inside end down and up (the host keeps its
    address, so its own loopback traffic to it is untouched)."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.ns = f"v100r{tag}"
        self.host_if, self.inside_if = f"v100r{tag}h", f"v100r{tag}n"
        octet = int(tag[:2], 16) % 250
        self.host, self.inside = f"10.213.{octet}.1", f"10.213.{octet}.2"

    def __enter__(self) -> Link:
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.inside_if)
        sh("ip", "link", "set", self.inside_if, "netns", self.ns)
        sh("ip", "addr", "add", f"{self.host}/30", "dev", self.host_if)
        sh("ip", "link", "set", self.host_if, "up")
        sh("ip", "-n", self.ns, "addr", "add", f"{self.inside}/30", "dev", self.inside_if)
        sh("ip", "-n", self.ns, "link", "set", self.inside_if, "up")
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        return self

    def __exit__(self, *_: object) -> None:
        subprocess.run(["ip", "netns", "del", self.ns], check=False)
        subprocess.run(["ip", "link", "del", self.host_if], check=False, capture_output=True)

    def down(self) -> None:
        sh("ip", "-n", self.ns, "link", "set", self.inside_if, "down")

    def up(self) -> None:
        sh("ip", "-n", self.ns, "link", "set", self.inside_if, "up")


class Signal:
    """One participant's signaling session: joined, resumed after a drop (the same session id
    and the last ``seq`` handled), the server's pings answered; the socket's own pings notice a
    dead network within a few seconds."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.joined: dict[str, Any] = {}
        self.last_seq = 0
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.dropped = asyncio.Event()
        self.socket: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> dict[str, Any]:
        """Join, or resume the session once joined; the join answer."""
        join: dict[str, Any] = {"type": "join", "token": self.token}
        if self.joined:
            join |= {"session_id": self.joined["session_id"], "last_seq": self.last_seq}
        while True:
            try:
                # A dead network is noticed by a ping unanswered for 2 s; the close that
                # follows waits no longer for a closing handshake that cannot come.
                socket = await websockets.connect(
                    self.url, proxy=None, open_timeout=1, ping_interval=1, ping_timeout=2,
                    close_timeout=0.2,
                )  # fmt: skip
                break
            except (OSError, TimeoutError, websockets.InvalidHandshake):
                await asyncio.sleep(0.1)
        await socket.send(json.dumps(join))
        while True:
            message: dict[str, Any] = json.loads(await socket.recv())
            if message["type"] == "joined":
                break
        self.socket, self.joined = socket, message
        self.last_seq = message["last_seq"]
        self.dropped.clear()
        self._reader = asyncio.create_task(self._read(socket))
        return message

    async def send(self, message: dict[str, Any]) -> None:
        assert self.socket is not None
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.socket.send(json.dumps(message))

    async def next(self, kind: str) -> dict[str, Any]:
        while True:
            message = await self.inbox.get()
            if message["type"] == kind:
                return message

    async def _read(self, socket: ClientConnection) -> None:
        try:
            async for raw in socket:
                message = json.loads(raw)
                if message["type"] == "ping":
                    await socket.send(json.dumps({"type": "pong", "id": message["id"]}))
                    continue
                self.last_seq = max(self.last_seq, message.get("seq", 0))
                await self.inbox.put(message)
        except websockets.ConnectionClosed:
            pass
        self.dropped.set()

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()


class Arrivals:
    """The frames of the remote audio track, as they arrive: those that end a gap (a drop) are
    handed to ``on_gap_end`` with when the gap began. The current track's reader is replaced
    when a new peer connection brings another."""

    def __init__(self, on_gap_end: Any) -> None:
        self.last_arrival = time.monotonic()
        self.on_gap_end = on_gap_end
        self._reader: asyncio.Task[None] | None = None

    def take(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio":
            return
        if self._reader is not None:
            self._reader.cancel()
        self._reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                now = time.monotonic()
                if now - self.last_arrival > GAP:
                    self.on_gap_end(now, self.last_arrival)
                self.last_arrival = now

    def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()


def only_addresses(address: str) -> None:
    """ICE gathers on the veth address alone: nothing leaves the machine."""
    aioice.ice.get_host_addresses = lambda **_: [address]


def connection(arrivals: Arrivals) -> RTCPeerConnection:
    """A peer connection sending an audio track (20 ms frames of silence, Opus) and handing the
    remote one to ``arrivals``."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(AudioStreamTrack())
    pc.on("track", arrivals.take)
    return pc


# --- peer B, in the namespace ----------------------------------------------------------------


async def peer_b(url: str, token: str, mode: str, address: str) -> None:
    only_addresses(address)
    signal_ = Signal(url, token)
    await signal_.open()
    a_session = signal_.joined["peers"][0]["session_id"]

    def gap_end(at: float, since: float) -> None:
        print(json.dumps({"gap_end": at, "since": since}), flush=True)

    arrivals = Arrivals(gap_end)

    async def negotiate() -> RTCPeerConnection:
        pc = connection(arrivals)
        await pc.setLocalDescription(await pc.createOffer())
        await signal_.send({"type": "offer", "to": a_session, "sdp": pc.localDescription.sdp})
        answer = await signal_.next("answer")
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        return pc

    pc = await negotiate()
    print(json.dumps({"ready": time.monotonic()}), flush=True)
    try:
        while True:
            await signal_.dropped.wait()
            print(json.dumps({"noticed": time.monotonic()}), flush=True)
            if mode == "restart":
                await pc.close()  # the client gives the old connection up
            answer = await signal_.open()
            print(json.dumps({"resumed": time.monotonic(), "ok": answer["resumed"]}), flush=True)
            if mode == "restart":
                pc = await negotiate()
    finally:
        arrivals.stop()
        await pc.close()


# --- the host side: peer A, the server, the drops --------------------------------------------


async def peer_a(signal_: Signal, arrivals: list[float]) -> None:
    """Answers every offer on a new peer connection, with an audio track of its own."""
    heard = Arrivals(lambda at, since: arrivals.append(at))
    pc: RTCPeerConnection | None = None
    try:
        while True:
            offer = await signal_.next("offer")
            if pc is not None:
                await pc.close()
            pc = connection(heard)
            await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            await signal_.send(
                {"type": "answer", "to": offer["from"], "sdp": pc.localDescription.sdp}
            )
    finally:
        heard.stop()
        if pc is not None:
            await pc.close()


async def first_after(events: list[float], moment: float, within: float) -> float | None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        later = [at for at in events if at > moment]
        if later:
            return min(later) - moment
        await asyncio.sleep(0.01)
    return None


async def run_mode(link: Link, url: str, mode: str, drops: int, outage: float) -> list[float]:
    meeting = uuid.uuid4().hex
    a = Signal(url + meeting, token(meeting, "ada"))
    await a.open()
    arrivals_at_a: list[float] = []
    answering = asyncio.create_task(peer_a(a, arrivals_at_a))
    b = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", link.ns, sys.executable, __file__, "--peer-b",
        url + meeting, token(meeting, "bob"), mode, link.inside,
        stdout=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    arrivals_at_b: list[float] = []
    ready = asyncio.Event()

    async def read_b() -> None:
        assert b.stdout is not None
        async for line in b.stdout:
            event = json.loads(line)
            if "gap_end" in event:
                arrivals_at_b.append(event["gap_end"])
                if VERBOSE:
                    print(f"  b: gap {event['since']:.2f} -> {event['gap_end']:.2f}", flush=True)
            elif "noticed" in event and VERBOSE:
                print(f"  b: noticed the drop {event['noticed']:.2f}", flush=True)
            elif "ready" in event:
                ready.set()
            elif "resumed" in event:
                if not event["ok"]:
                    print(f"  {mode}: the session could not be resumed", flush=True)
                if VERBOSE:
                    print(f"  b: resumed {event['resumed']:.2f}", flush=True)

    reading = asyncio.create_task(read_b())
    figures: list[float] = []
    try:
        async with asyncio.timeout(60):
            await ready.wait()
        await asyncio.sleep(3)  # traffic both ways
        for n in range(drops):
            link.down()
            went = time.monotonic()
            await asyncio.sleep(outage)
            link.up()
            back = time.monotonic()
            if VERBOSE:
                print(f"  down {went:.2f} up {back:.2f}", flush=True)
            to_a = await first_after(arrivals_at_a, back, 60)
            to_b = await first_after(arrivals_at_b, back, 60)
            if to_a is None or to_b is None:
                print(f"  {mode} drop {n + 1}: no media within 60 s (a {to_a}, b {to_b})")
                continue
            figures.append(max(to_a, to_b))
            print(
                f"  {mode} drop {n + 1}: media back in {max(to_a, to_b) * 1000:.0f} ms "
                f"(to A {to_a * 1000:.0f}, to B {to_b * 1000:.0f}; load {load()})",
                flush=True,
            )
            await asyncio.sleep(3)
    finally:
        reading.cancel()
        answering.cancel()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(b.pid, signal.SIGTERM)
        await b.wait()
        await a.close()
    return figures


async def main(drops: int, outage: float) -> None:
    if os.geteuid() != 0:
        sys.exit("needs root: network namespaces (ip netns)")
    with Link() as link, tempfile.TemporaryDirectory() as scratch:
        only_addresses(link.host)
        port = free_port()
        env = {
            **os.environ,
            "V100_VAR_DIR": scratch,
            "V100_INTERNAL_TOKEN_SECRET": SECRET,
            "V100_LOG_LEVEL": "WARNING",
        }
        env.pop("V100_REDIS_URL", None)
        server = await asyncio.create_subprocess_exec(
            V100, "serve", "meeting_signaling", "--host", link.host, "--port", str(port),
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            url = f"ws://{link.host}:{port}/v1/signaling/rooms/"
            for _ in range(300):
                try:
                    probe = await websockets.connect(url + "probe", proxy=None, open_timeout=1)
                    await probe.close()
                    break
                except (OSError, TimeoutError, websockets.InvalidHandshake):
                    await asyncio.sleep(0.1)
            print(f"{drops} drops of {outage:g} s each, per client behaviour (load {load()})")
            keep = await run_mode(link, url, "keep", drops, outage)
            restart = await run_mode(link, url, "restart", drops, outage)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(15):
                    await server.wait()
            except TimeoutError:
                server.kill()
                await server.wait()
    if keep and restart:
        k, r = statistics.median(keep), statistics.median(restart)
        print(
            f"median time to media both ways after the link is back: keep {k * 1000:.0f} ms, "
            f"restart {r * 1000:.0f} ms; restart / keep = {r / k:.1f}x (load {load()})"
        )


def _ended(*_: object) -> None:
    raise SystemExit(1)  # SIGTERM: clean up (the namespace, the server) on the way out


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _ended)
    if len(sys.argv) > 1 and sys.argv[1] == "--peer-b":
        url, token_, mode, address = sys.argv[2:6]
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(peer_b(url, token_, mode, address))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drops", type=int, default=5)
    parser.add_argument("--outage", type=float, default=5.0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    VERBOSE = args.verbose
    asyncio.run(main(args.drops, args.outage))

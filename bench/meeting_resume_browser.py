"""The meeting page's time to media after its network drops for 5 s: ``meeting_resume.py``'s
drop, with two headless Chromiums on the meeting page (``/meet/{id}``, mesh.js) instead of
aiortc peers. Chromium B runs inside the network namespace (its executable is started through
``ip netns exec``), Chromium A on the host; meeting, meeting_signaling and realtime behind the
gateway on loopback, reached by both browsers through a forwarder on the veth's host address
(treated as a secure origin, so the page may open the fake camera and microphone).

For each drop: from the link coming back to the first poll (every 100 ms) at which each page
decodes new video frames from the other, the later of the two; and what the page did: its
signaling and realtime sockets (opened, closed with which code), ICE connection states and
``restartIce()`` calls, in order. The aiortc figure to compare with is ``meeting_resume.py``'s.
Needs root and Debian's chromium (scripts/tools/browser.sh install).

    .venv/bin/python bench/meeting_resume_browser.py [--drops 5] [--outage 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, async_playwright

from meeting_resume import Link, load
from v100.kit.settings import PlatformSettings
from v100.kit.testing.servers import serving
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.settings import GatewaySettings
from v100.services.meeting.app import create_app as create_meeting
from v100.services.meeting.settings import MeetingSettings
from v100.services.meeting_signaling.app import create_app as create_signaling
from v100.services.meeting_signaling.settings import MeetingSignalingSettings
from v100.services.realtime.app import create_app as create_realtime
from v100.services.realtime.settings import RealtimeSettings

SECRET = "bench-meeting-resume-browser-0123456789abcdef"  # noqa: S105 - a local bench's
AUDIO_FIRST: list[float] = []  # per page and drop: when audio bytes grew again
CHROMIUM = os.environ.get("V100_TEST_CHROMIUM", "/usr/bin/chromium")
# What the page did, noted in the page: restartIce() calls and ICE states (wall clock, ms).
WATCH = """
(() => {
  window.__events = [];
  const note = (what) => window.__events.push([Date.now(), what]);
  const restartIce = RTCPeerConnection.prototype.restartIce;
  RTCPeerConnection.prototype.restartIce = function () {
    note("restartIce");
    return restartIce.call(this);
  };
  const Original = RTCPeerConnection;
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    note("new RTCPeerConnection");
    pc.addEventListener("iceconnectionstatechange", () => note("ice " + pc.iceConnectionState));
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
  const Socket = WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Socket(...args);
    const name = String(args[0]).includes("/signaling/") ? "signaling" : "realtime";
    note(name + " socket opening");
    socket.addEventListener("open", () => note(name + " socket open"));
    socket.addEventListener("close", (e) => note(name + " socket closed " + e.code));
    return socket;
  };
  window.WebSocket.prototype = Socket.prototype;
  Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
})();
"""


@contextlib.asynccontextmanager
async def forwarding(host: str, to_port: int) -> Any:
    """A TCP forwarder on ``host`` (the veth's host address) to the gateway on loopback."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", to_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(accept, host, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


@contextlib.asynccontextmanager
async def platform(var_dir: Path) -> Any:
    def base(name: str) -> dict[str, Any]:
        settings = PlatformSettings(var_dir=var_dir / name, internal_token_secret=SECRET)
        return {"platform": settings, "database_url": f"sqlite+aiosqlite:///{var_dir}/{name}.db"}

    async with (
        serving(create_meeting(MeetingSettings(**base("meeting"))), ready=True) as meeting,
        serving(create_signaling(MeetingSignalingSettings(**base("sig"))), ready=True) as sig,
        serving(create_realtime(RealtimeSettings(**base("realtime"))), ready=True) as realtime,
    ):
        upstreams = {"meeting": meeting, "meeting_signaling": sig, "realtime": realtime}
        settings = GatewaySettings(
            platform=PlatformSettings(var_dir=var_dir / "gw", internal_token_secret=SECRET),
            database_url=f"sqlite+aiosqlite:///{var_dir}/gateway.db",
            jwt_secret=f"{SECRET}-jwt",
            password_time_cost=1, password_memory_kib=1024, password_parallelism=1,
            upstreams=upstreams,
        )  # fmt: skip
        async with serving(create_gateway(settings), ready=True) as gateway:
            yield gateway


async def received(page: Page) -> tuple[int, int]:
    """Video frames decoded and audio bytes received, from every peer."""
    stats = await page.evaluate("() => window.v100Meeting.inboundStats()")
    video = sum(s["framesDecoded"] for s in stats if s["kind"] == "video")
    audio = sum(s["bytesReceived"] for s in stats if s["kind"] == "audio")
    return video, audio


async def first_growth(page: Page, since: float, within: float = 90) -> float | None:
    """Seconds from ``since`` to the first poll at which ``page`` decodes new video frames;
    when audio bytes grew first, that is noted in ``AUDIO_FIRST``."""
    video, audio = await received(page)
    audio_back: float | None = None
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now_video, now_audio = await received(page)
        if audio_back is None and now_audio > audio:
            audio_back = time.monotonic() - since
        if now_video > video:
            AUDIO_FIRST.append(audio_back if audio_back is not None else time.monotonic() - since)
            return time.monotonic() - since
        video, audio = now_video, now_audio
    return None


async def main(drops: int, outage: float) -> None:
    if os.geteuid() != 0:
        sys.exit("needs root: network namespaces (ip netns)")
    with Link() as link, tempfile.TemporaryDirectory() as scratch:
        wrapper = Path(scratch) / "chromium-in-namespace"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {link.ns} {CHROMIUM} "$@"\n')
        wrapper.chmod(0o755)
        async with (
            platform(Path(scratch)) as gateway,
            forwarding(link.host, int(gateway.rsplit(":", 1)[1])) as port,
            async_playwright() as playwright,
        ):
            origin = f"http://{link.host}:{port}"
            key = await api_key(origin)
            async with httpx.AsyncClient(
                base_url=origin, headers={"X-API-Key": key}, timeout=60
            ) as http:
                made = await http.post(
                    "/v1/meetings", json={"title": "Drops"}, headers={"Idempotency-Key": "m"}
                )
                meeting = made.json()["id"]
                tokens = {}
                for name in ("Ada", "Bob"):
                    minted = await http.post(
                        f"/v1/meetings/{meeting}/tokens",
                        json={"name": name, "role": "host" if name == "Ada" else "participant"},
                        headers={"Idempotency-Key": name},
                    )
                    tokens[name] = minted.json()["token"]
            flags = [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
                f"--unsafely-treat-insecure-origin-as-secure={origin}",
            ]  # fmt: skip
            outside = await playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
            inside = await playwright.chromium.launch(executable_path=str(wrapper), args=flags)
            pages: dict[str, Page] = {}
            for name, browser in (("Ada", outside), ("Bob", inside)):
                page = await (await browser.new_context()).new_page()
                await page.add_init_script(WATCH)
                await page.goto(f"{origin}/meet/{meeting}#token={tokens[name]}")
                await page.get_by_role("button", name="Join").click(timeout=90_000)
                pages[name] = page
            ada, bob = pages["Ada"], pages["Bob"]
            for page in (ada, bob):
                if await first_growth(page, time.monotonic()) is None:
                    sys.exit("media never flowed between the two pages")
            await asyncio.sleep(3)
            noted = await bob.evaluate("() => window.__events.map((e) => e[1])")
            print(f"B's page before the drops: {', '.join(noted)}")
            print(f"{drops} drops of {outage:g} s, Chromium B in a namespace (load {load()})")
            figures: list[float] = []
            for n in range(drops):
                mark = await bob.evaluate("() => window.__events.length")
                link.down()
                await asyncio.sleep(outage)
                link.up()
                back, wall = time.monotonic(), time.time() * 1000
                AUDIO_FIRST.clear()
                to_a, to_b = await asyncio.gather(first_growth(ada, back), first_growth(bob, back))
                audio = ", ".join(f"{x * 1000:.0f}" for x in AUDIO_FIRST)
                events = await bob.evaluate(f"() => window.__events.slice({mark})")
                story = "; ".join(f"{(t - wall) / 1000:+.1f}s {what}" for t, what in events)
                if to_a is None or to_b is None:
                    print(f"  drop {n + 1}: no media within 90 s (A {to_a}, B {to_b}): {story}")
                    continue
                figures.append(max(to_a, to_b))
                print(
                    f"  drop {n + 1}: video back in {max(to_a, to_b) * 1000:.0f} ms (at A "
                    f"{to_a * 1000:.0f}, at B {to_b * 1000:.0f}; audio bytes back in {audio} ms; "
                    f"load {load()})\n"
                    f"    B, relative to the link's return: {story}",
                    flush=True,
                )
                await asyncio.sleep(5)
            await outside.close()
            await inside.close()
    if figures:
        print(
            f"median time to video both ways after the link is back: "
            f"{statistics.median(figures) * 1000:.0f} ms over {len(figures)} drops "
            f"(min {min(figures) * 1000:.0f}, max {max(figures) * 1000:.0f}; load {load()})"
        )


async def api_key(origin: str) -> str:
    from _support import api_key as make

    return await asyncio.to_thread(make, origin)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drops", type=int, default=5)
    parser.add_argument("--outage", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(main(args.drops, args.outage))

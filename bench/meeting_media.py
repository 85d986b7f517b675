"""What one browser peer pays for a meeting, mesh vs SFU (ADR 0058): the CPU time of ONE
measured Chromium (a browser instance of its own: its whole process tree, via psutil) and its
upstream bitrate (getStats outbound-rtp bytesSent, every peer connection of the page), in rooms
of 2, 4 and 6 peers, as a peer-to-peer mesh and through Janus's VideoRoom.

The other peers are pages of a second Chromium (a context each); the services (gateway, meeting,
meeting_signaling, realtime) run embedded in this process, Janus as scripts/services/janus.sh
starts it. ``sfu_threshold`` forces the mode: 100 keeps a room of 6 a mesh, 1 puts a room of 2
on the SFU. Every page uses the page's own camera settings (640x360 at 20 fps, Chromium's fake
camera and microphone). Once media flows from every other peer to the measured one and a
warm-up passed (bandwidth estimation ramps up), the window is sampled every ``--sample`` seconds:
medians of those samples are printed, with the SFU/mesh ratios measured in the same run and the
load average (the machine is shared).

    bash scripts/services/janus.sh start && source .cache/ci/janus.env
    .venv/bin/python bench/meeting_media.py [--peers 2 4 6] [--window 20] [--warmup 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests/support

from tests.support.meeting_page import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    WAIT_MS,
    media_flows,
    meeting_with_tokens,
    open_page,
    platform,
)

MEASURED_FLAG = "--v100-bench-measured-peer"  # unknown to Chromium: marks its process tree

# Every peer connection of the page's media layer (mesh: one per peer; SFU: the publisher, the
# subscriber, and a mesh still being retired), summed.
_TRAFFIC = """async () => {
  const media = window.v100Meeting.media;
  if (!media) return { sent: 0, received: 0, pcs: 0 };
  const layers = [media, media.previous].filter(Boolean);
  const pcs = [];
  for (const layer of layers) {
    if (layer.peers) for (const peer of layer.peers.values()) pcs.push(peer.pc);
    for (const side of [layer.pub, layer.sub]) if (side) pcs.push(side.pc);
  }
  let sent = 0, received = 0;
  for (const pc of pcs) {
    (await pc.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp") sent += s.bytesSent || 0;
      if (s.type === "inbound-rtp") received += s.bytesReceived || 0;
    });
  }
  return { sent, received, pcs: pcs.length, mode: media.mode || "mesh" };
}"""


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def measured_tree() -> list[psutil.Process]:
    """The measured Chromium's processes: its browser process and every descendant."""
    roots = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if MEASURED_FLAG in cmdline:
            parent = process.parent()
            if parent is None or MEASURED_FLAG not in (parent.cmdline() or []):
                roots.append(process)
    tree = []
    for root in roots:
        tree.append(root)
        tree.extend(root.children(recursive=True))
    return tree


def cpu_seconds(tree: list[psutil.Process]) -> float:
    total = 0.0
    for process in tree:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


async def one_room(
    url: str, api_key: str, peers: int, args: argparse.Namespace, playwright: Any, title: str
) -> dict[str, Any]:
    """A room of ``peers``: the measured page joins last; medians over the window."""
    async with httpx.AsyncClient(base_url=url, timeout=60, headers={"X-API-Key": api_key}) as http:
        names = [f"p{i}" for i in range(peers)]
        meeting_id, tokens = await meeting_with_tokens(http, names, title=title)
    others = await playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_FLAGS, timeout=WAIT_MS
    )
    measured = await playwright.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_FLAGS, MEASURED_FLAG], timeout=WAIT_MS
    )
    try:
        for name in names[:-1]:
            await open_page(others, url, meeting_id, tokens[name]["token"])
        page = await open_page(measured, url, meeting_id, tokens[names[-1]]["token"])
        await media_flows(page, peers - 1, within_ms=WAIT_MS * 2)
        await asyncio.sleep(args.warmup)
        tree = measured_tree()
        cpu, bitrate = [], []
        before_cpu, before = cpu_seconds(tree), await page.evaluate(_TRAFFIC)
        started = last = time.monotonic()
        mode = before["mode"]
        while last - started < args.window:
            await asyncio.sleep(args.sample)
            now_cpu, now = cpu_seconds(tree), await page.evaluate(_TRAFFIC)
            at = time.monotonic()
            cpu.append((now_cpu - before_cpu) / (at - last) * 100)
            bitrate.append((now["sent"] - before["sent"]) * 8 / (at - last) / 1000)
            before_cpu, before, last = now_cpu, now, at
        return {
            "peers": peers,
            "mode": mode,
            "cpu": statistics.median(cpu),
            "kbps": statistics.median(bitrate),
            "pcs": before["pcs"],
            "processes": len(tree),
        }
    finally:
        await measured.close()
        await others.close()


async def main(args: argparse.Namespace) -> None:
    from playwright.async_api import async_playwright

    janus_url = args.janus_url or os.environ.get("V100_TEST_JANUS_URL")
    janus_secret = args.janus_secret or os.environ.get("V100_TEST_JANUS_SECRET")
    if not janus_url:
        raise SystemExit(
            "no Janus: bash scripts/services/janus.sh start; source .cache/ci/janus.env"
        )
    results: dict[tuple[str, int], dict[str, Any]] = {}
    print(f"load before: {load()}", flush=True)
    async with async_playwright() as playwright:
        for mode, threshold in (("mesh", 100), ("sfu", 1)):
            with tempfile.TemporaryDirectory(prefix="bench-meeting-media-") as var_dir:
                async with platform(
                    Path(var_dir), janus_url=janus_url, janus_secret=janus_secret,
                    sfu_threshold=threshold,
                ) as (url, api_key):  # fmt: skip
                    for peers in args.peers:
                        row = await one_room(
                            url, api_key, peers, args, playwright, f"{mode}{peers}"
                        )
                        assert row["mode"] == mode, row
                        results[mode, peers] = row
                        print(
                            f"{mode:4} {peers} peers: CPU {row['cpu']:6.1f} %  up "
                            f"{row['kbps']:7.0f} kbit/s  ({row['pcs']} peer connections, "
                            f"{row['processes']} processes; load {load()})",
                            flush=True,
                        )
    print()
    print("peers | mesh CPU % | SFU CPU % | SFU/mesh | mesh up kbit/s | SFU up kbit/s | SFU/mesh")
    for peers in args.peers:
        mesh, sfu = results["mesh", peers], results["sfu", peers]
        print(
            f"{peers:5} | {mesh['cpu']:10.1f} | {sfu['cpu']:9.1f} | "
            f"{sfu['cpu'] / mesh['cpu']:8.2f} | {mesh['kbps']:14.0f} | {sfu['kbps']:13.0f} | "
            f"{sfu['kbps'] / mesh['kbps']:8.2f}"
        )
    print(f"load after: {load()}; {os.cpu_count()} cores")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", type=int, nargs="+", default=[2, 4, 6])
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--sample", type=float, default=2.0, help="seconds per sample")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--janus-url")
    parser.add_argument("--janus-secret")
    asyncio.run(main(parser.parse_args()))

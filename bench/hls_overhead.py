"""Pipeline overhead of the HLS ladder (issue 5's figure): wall time of ``encode_hls`` (progress
parsing, playlist checks, master rewrite) against running the very same FFmpeg command line by
hand, on a 60 s 720p lavfi source; target <= 1.05x. Also the real-time factor on this machine.
Run by hand, not in CI:

    .venv/bin/python bench/hls_overhead.py [--seconds 60] [--runs 3] [--preset veryfast]

Runs alternate (hand, library, hand, ...) so drifting load on shared cores hits both alike.
Besides wall time it reports FFmpeg's CPU time (user + system, from the children's resource
usage), which contention from other processes on shared cores disturbs far less."""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from v100.media import encode_hls, ffmpeg_path, hls_args, plan_ladder, probe
from v100.media.hls import _collect
from v100.media.testing import make_video

TARGET_RATIO = 1.05


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def by_hand(args: list[str]) -> tuple[float, float]:
    """The command a person would type: the same arguments, no progress pipe, nothing after.
    Returns (wall, cpu) seconds."""
    command = [ffmpeg_path(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args]
    cpu, started = children_cpu(), time.perf_counter()
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started, children_cpu() - cpu


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--preset", default="veryfast")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="v100-hls-bench-"))
    try:
        source = make_video(
            work / "source.mp4", seconds=options.seconds, width=1280, height=720, fps=30
        )
        started = time.perf_counter()
        info = await probe(source)
        probe_s = time.perf_counter() - started
        ladder = plan_ladder(info)
        print(f"source: {info.duration:.1f} s 1280x720 30 fps; probe {probe_s * 1000:.0f} ms")
        print("ladder: " + ", ".join(f"{r.name} {r.video_bitrate // 1000}k" for r in ladder))

        hand: list[float] = []
        library: list[float] = []
        hand_cpu: list[float] = []
        library_cpu: list[float] = []
        for run in range(options.runs):
            out = work / f"hand-{run}"
            args = hls_args(source, out, info, ladder, preset=options.preset)
            wall, cpu = by_hand(args)
            hand.append(wall)
            hand_cpu.append(cpu)
            out = work / f"lib-{run}"
            cpu, started = children_cpu(), time.perf_counter()
            await encode_hls(source, out, info, ladder, preset=options.preset)
            library.append(time.perf_counter() - started)
            library_cpu.append(children_cpu() - cpu)
            print(
                f"run {run + 1}: by hand {hand[-1]:.2f} s (cpu {hand_cpu[-1]:.1f} s), "
                f"encode_hls {library[-1]:.2f} s (cpu {library_cpu[-1]:.1f} s)"
            )

        hand_s, lib_s = statistics.median(hand), statistics.median(library)
        ratio = lib_s / hand_s
        verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
        print(f"median by hand {hand_s:.2f} s, encode_hls {lib_s:.2f} s")
        print(f"overhead ratio {ratio:.3f}x (target <= {TARGET_RATIO}x): {verdict}")
        print(f"with probe and planning: {(lib_s + probe_s) / hand_s:.3f}x")
        cpu_ratio = statistics.median(library_cpu) / statistics.median(hand_cpu)
        print(f"FFmpeg CPU time ratio {cpu_ratio:.3f}x")
        # What the library adds after FFmpeg: playlist checks and the master rewrite.
        started = time.perf_counter()
        _collect(work / f"lib-{options.runs - 1}", info, ladder, 4)
        after_ms = (time.perf_counter() - started) * 1000
        print(f"after FFmpeg (playlists, master rewrite): {after_ms:.1f} ms")
        print(
            f"real-time factor: {info.duration / lib_s:.2f}x "
            f"({len(ladder)} rungs, preset {options.preset})"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())

"""Smart-crop and clip rendering (issue 16's clips): how well the planned window keeps the faces
and how steady it is, and what rendering a 9:16 clip costs next to a plain centre crop to the
same 1080x1920 frame. The video is made here with FFmpeg: two heads of scikit-image's astronaut
on a 1280x720 25 fps test card, one still at the left, one walking 580 px to the right in the
first half and back in the second, with a tone; faces are found by ``picture_signals`` as the
analysis would. Run by hand, not in CI:

    .venv/bin/python bench/smart_crop.py [--seconds 20] [--runs 3] [--preset veryfast]

Plans (each for the whole video, 9:16):

- ``still``: the still face (the speaker timeline names it throughout): how still the window
  stays on the Haar boxes' own noise;
- ``follow``: the walking face (likewise);
- ``turns``: speakers alternating every 4 s (every turn a cut);
- ``split``: no speakers, both faces (too far apart for one window: two panes);
- ``fit``: the same with ``two_faces="fit"`` (blurred background).

Figures: the share of frames whose window (for a split, the walker's pane) holds the followed
face whole (true boxes from ``placement_at``), the largest step of the window between frames
(px, against the speed limit), reversals of direction (jitter), the straight pieces of the
windows' paths, the planning time; then render wall and CPU time (FFmpeg's, from the
children's resource usage) for each layout and for a static centre crop to the same frame
typed by hand, alternating, medians and ratios, and the real-time factor."""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from v100.media import ffmpeg_path, probe
from v100.media.clip_render import render_clip
from v100.media.platforms import CLIP_SPECS
from v100.media.scenes import detect_scenes
from v100.media.smart_crop import CropPath, CropSettings, Pan, plan_crop
from v100.media.testing_faces import Placement, make_face_video, placement_at
from v100.media.video_signals import picture_signals

WIDTH, HEIGHT, FPS = 1280, 720, 25
FACE = 120
STILL = (Placement(40, 200, FACE), Placement(40, 200, FACE))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def walker_moves() -> list[tuple[Placement, Placement]]:
    """The walker goes right for the first half and back for the second (``make_face_video``
    moves a head in one straight line, so the source is made in two halves, joined)."""
    there = (Placement(420, 180, FACE), Placement(1000, 180, FACE))
    back = (Placement(1000, 180, FACE), Placement(420, 180, FACE))
    return [there, back]


def make_source(work: Path, seconds: float) -> Path:
    half = seconds / 2
    parts = []
    for n, walk in enumerate(walker_moves()):
        parts.append(
            make_face_video(
                work / f"half{n}.mp4",
                [STILL, walk],
                seconds=half,
                width=WIDTH,
                height=HEIGHT,
                fps=FPS,
                background="testsrc2",
                audio="sine=frequency=440:sample_rate=48000",
            )
        )
    listing = work / "halves.txt"
    listing.write_text("".join(f"file '{p.name}'\n" for p in parts))
    source = work / "source.mp4"
    subprocess.run(
        [
            *(ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-y", "-f", "concat"),
            *("-safe", "0", "-i", str(listing), "-c", "copy", str(source)),
        ],
        check=True,
    )
    return source


def centre_by_hand(source: Path, dst: Path, preset: str) -> None:
    """The plain alternative: one static centre crop scaled to the same 1080x1920 frame, with
    the same encoder settings and audio, as a person would type it."""
    picture = f"fps={FPS},crop=ih*9/16:ih,scale=1080:1920,setsar=1,format=yuv420p"
    subprocess.run(
        [
            *(ffmpeg_path(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error"),
            *("-i", str(source), "-vf", picture, "-c:v", "libx264", "-preset", preset),
            *("-crf", "21", "-profile:v", "high", "-pix_fmt", "yuv420p"),
            *("-maxrate", "6000000", "-bufsize", "12000000", "-g", str(2 * FPS)),
            *("-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(dst)),
        ],
        check=True,
    )


def walker_box(t: float, seconds: float) -> tuple[int, int, int, int]:
    half = seconds / 2
    there, back = walker_moves()
    move, at = (there, t) if t < half else (back, t - half)
    return placement_at(move, at, half).box()


def still_box() -> tuple[int, int, int, int]:
    return STILL[0].box()


@dataclass(frozen=True)
class Figures:
    held: float
    largest_step: int
    reversals: int
    pieces: int


def window_figures(path: CropPath, seconds: float, followed: Callable[[float], str]) -> Figures:
    """Share of frames whose window (a split's walker pane) holds the face ``followed(t)``
    names ("walker" or "still") whole, the largest step between frames, reversals of
    direction, and the straight pieces of every pan."""
    held = frames = reversals = largest = direction = 0
    previous: tuple[Pan, int] | None = None
    pieces = sum(len(pan.points) - 1 for shot in path.shots for pan in shot.pans)
    for n in range(round(seconds * FPS)):
        t = n / FPS
        shot = path.shot_at(t)
        if shot.layout == "fit":
            continue
        walking = followed(t) == "walker"
        # The still face is on the left: a split puts it on top.
        pan = shot.pans[1 if walking else 0] if shot.layout == "split" else shot.pans[0]
        window = pan.window_at(t)
        x, _, w, _ = walker_box(t, seconds) if walking else still_box()
        frames += 1
        held += window.x <= x and x + w <= window.x + window.width
        if previous is not None and previous[0] is pan:
            step = window.x - previous[1]
            largest = max(largest, abs(step))
            if step and direction and (step > 0) != (direction > 0):
                reversals += 1
            direction = step or direction
        previous = (pan, window.x)
    return Figures(held / frames if frames else float("nan"), largest, reversals, pieces)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--preset", default="veryfast")
    options = parser.parse_args()
    seconds = options.seconds
    work = Path(tempfile.mkdtemp(prefix="v100-crop-bench-"))
    try:
        source = make_source(work, seconds)
        info = await probe(source)
        started = time.process_time()
        signals = picture_signals(source, info, detect_scenes(source, info), keyframes=False)
        print(
            f"source: {seconds:g} s {WIDTH}x{HEIGHT} {FPS} fps; faces found in "
            f"{time.process_time() - started:.1f} s CPU: "
            + ", ".join(f"track {t.id} {t.start:.1f}-{t.end:.1f} s" for t in signals.face_tracks)
        )
        tracks = signals.face_tracks
        walker = max(
            tracks, key=lambda t: max(f.box.x for f in t.faces) - min(f.box.x for f in t.faces)
        )
        still = next(t for t in tracks if t.id != walker.id)
        turns = [
            (k * 4.0, (k + 1) * 4.0, still.id if k % 2 == 0 else walker.id)
            for k in range(int(seconds // 4) + 1)
        ]
        common = {"width": WIDTH, "height": HEIGHT, "aspect": "9:16", "start": 0.0,
                  "end": info.duration, "frame_rate": FPS}  # fmt: skip
        plans = {
            "still": {"speakers": [(0.0, seconds, still.id)]},
            "follow": {"speakers": [(0.0, seconds, walker.id)]},
            "turns": {"speakers": turns},
            "split": {},
            "fit": {"settings": CropSettings(two_faces="fit")},
        }
        followed: dict[str, Callable[[float], str]] = {
            "still": lambda t: "still",
            "follow": lambda t: "walker",
            "turns": lambda t: "walker" if int(t // 4) % 2 else "still",
            "split": lambda t: "walker",
            "fit": lambda t: "walker",
        }
        paths: dict[str, CropPath] = {}
        print(
            "\nplan    shots  layouts                held  largest step  reversals  pieces  plan ms"
        )
        limit = CropSettings().max_speed * 404 / FPS
        for name, extra in plans.items():
            started = time.perf_counter()
            paths[name] = plan_crop(tracks, **common, **extra)  # type: ignore[arg-type]
            took = (time.perf_counter() - started) * 1000
            figures = window_figures(paths[name], seconds, followed[name])
            layouts = ",".join(sorted({s.layout for s in paths[name].shots}))
            print(
                f"{name:7} {len(paths[name].shots):5}  {layouts:20} {figures.held:6.3f}  "
                f"{figures.largest_step:5.1f} (max {limit:.1f})  {figures.reversals:9}  "
                f"{figures.pieces:6}  {took:7.1f}"
            )
        spec = CLIP_SPECS["tiktok"]
        rendered = ["follow", "turns", "split", "fit", "centre, by hand"]
        walls: dict[str, list[float]] = {name: [] for name in rendered}
        cpus: dict[str, list[float]] = {name: [] for name in walls}
        for _ in range(options.runs):
            for name in walls:
                cpu, started = children_cpu(), time.perf_counter()
                if name in paths:
                    await render_clip(source, work / f"{name}.mp4", info, start=0.0,
                                      end=info.duration, crop=paths[name], spec=spec,
                                      trim=False, preset=options.preset)  # fmt: skip
                else:
                    centre_by_hand(source, work / "centre.mp4", options.preset)
                walls[name].append(time.perf_counter() - started)
                cpus[name].append(children_cpu() - cpu)
        base_wall = statistics.median(walls["centre, by hand"])
        base_cpu = statistics.median(cpus["centre, by hand"])
        print(f"\nrender to 1080x1920 ({options.preset}), median of {options.runs}")
        print("layout               wall      CPU   wall ratio  CPU ratio  real-time factor")
        for name in walls:
            wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
            print(
                f"{name:18} {wall:6.2f} s {cpu:6.2f} s  {wall / base_wall:9.2f}x "
                f"{cpu / base_cpu:9.2f}x  {seconds / wall:15.2f}x"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())

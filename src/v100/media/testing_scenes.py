"""Videos with known scene boundaries, made by FFmpeg for the scene tests and benchmark: shots
from lavfi sources (or a still image panned across) joined by hard cuts, fades through black
and dissolves (``xfade``), with camera flashes painted over chosen frames. ``make_shots``
returns where each boundary truly is, by frame."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from v100.media.testing import _ffmpeg

__all__ = ["Flash", "Join", "Shot", "TrueBoundary", "make_shots"]

JoinKind = Literal["cut", "fade", "dissolve", "fade_hold"]


@dataclass(frozen=True, slots=True)
class Shot:
    # A lavfi source ("testsrc2", "smptebars", "mandelbrot", "color=c=teal", "life=ratio=0.3"),
    # "image:<path>" (the picture panned across, as a camera would) or "video:<path>" (its
    # start, scaled to the frame).
    source: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Join:
    kind: JoinKind = "cut"
    # The transition's length (fade, dissolve; fade_hold: each ramp and the black between).
    seconds: float = 1.0


@dataclass(frozen=True, slots=True)
class Flash:
    # The first flashed frame of the finished video, how many frames, and how: "white" (the
    # picture replaced) or "bright" (the same picture, much brighter: a camera flash).
    frame: int
    frames: int = 1
    style: Literal["white", "bright"] = "bright"


@dataclass(frozen=True, slots=True)
class TrueBoundary:
    # The first frame of the new shot: a cut's first frame, a dissolve's half-way frame, a
    # fade's darkest frame (the middle of the black when it is held).
    frame: int
    kind: Literal["cut", "fade", "dissolve"]


def make_shots(
    path: str | Path,
    shots: list[Shot],
    joins: list[Join],
    *,
    flashes: tuple[Flash, ...] = (),
    width: int = 320,
    height: int = 180,
    fps: int = 25,
    crf: int = 23,
    preset: str = "ultrafast",
    x264_params: str | None = None,
) -> list[TrueBoundary]:
    """Write the shots joined by ``joins`` (one fewer than the shots) to ``path`` (H.264 at
    x264's ``preset``: the platform's own encodes use veryfast; ``x264_params`` as x264 takes
    them, "bframes=3:ref=5") and return the true boundaries. Shot lengths are whole frames;
    each transition takes its length out of the two shots it joins."""
    if len(joins) != len(shots) - 1:
        raise ValueError("one join between each two shots")
    args: list[str] = []
    graph: list[str] = []
    for i, shot in enumerate(shots):
        args += _input(shot, width, height, fps)
        graph.append(f"[{i}:v]{_picture(shot, width, height, fps)},settb=1/{fps}[s{i}]")
    truth: list[TrueBoundary] = []
    current, length = "s0", _frames(shots[0].seconds, fps)
    for i, join in enumerate(joins, start=1):
        nxt = f"s{i}"
        out = f"j{i}"
        span = _frames(join.seconds, fps)
        if join.kind == "cut":
            graph.append(f"[{current}][{nxt}]concat=n=2:v=1:a=0,settb=1/{fps}[{out}]")
            truth.append(TrueBoundary(length, "cut"))
            length += _frames(shots[i].seconds, fps)
        elif join.kind == "fade_hold":
            # Out to black over span, black for span, in from black over span.
            black = f"k{i}"
            graph.append(
                f"color=c=black:size={width}x{height}:rate={fps}:d={span / fps:.6f},"
                f"settb=1/{fps}[{black}]"
            )
            start = length - span
            graph.append(f"[{current}]fade=t=out:s={start}:n={span}[o{i}]")
            graph.append(f"[{nxt}]fade=t=in:s=0:n={span}[n{i}]")
            graph.append(f"[o{i}][{black}][n{i}]concat=n=3:v=1:a=0,settb=1/{fps}[{out}]")
            truth.append(TrueBoundary(length + span // 2, "fade"))
            length += span + _frames(shots[i].seconds, fps)
        else:
            transition = "fadeblack" if join.kind == "fade" else "fade"
            offset = (length - span) / fps
            graph.append(
                f"[{current}][{nxt}]xfade=transition={transition}:duration={span / fps:.6f}"
                f":offset={offset:.6f},settb=1/{fps}[{out}]"
            )
            # A dissolve is half-way at half its length; xfade's fadeblack is darkest 20% in.
            middle = math.ceil(span / 2) if join.kind == "dissolve" else round(0.2 * span)
            truth.append(TrueBoundary(length - span + middle, join.kind))
            length += _frames(shots[i].seconds, fps) - span
        current = out
    if flashes:
        graph.append(f"[{current}]{_flashes(flashes)}[flashed]")
        current = "flashed"
    args += ["-filter_complex", ";".join(graph), "-map", f"[{current}]"]
    args += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
    if x264_params:
        args += ["-x264-params", x264_params]
    _ffmpeg(*args, "-frames:v", str(length), str(path))
    return truth


def _frames(seconds: float, fps: int) -> int:
    return round(seconds * fps)


def _input(shot: Shot, width: int, height: int, fps: int) -> list[str]:
    seconds = f"{_frames(shot.seconds, fps) / fps:.6f}"
    if shot.source.startswith("image:"):
        image = shot.source.removeprefix("image:")
        return ["-loop", "1", "-framerate", str(fps), "-t", seconds, "-i", image]
    if shot.source.startswith("video:"):
        return ["-t", seconds, "-i", shot.source.removeprefix("video:")]
    separator = ":" if "=" in shot.source else "="
    options = f"size={width}x{height}:rate={fps}"
    return ["-t", seconds, "-f", "lavfi", "-i", f"{shot.source}{separator}{options}"]


def _picture(shot: Shot, width: int, height: int, fps: int) -> str:
    if shot.source.startswith("image:"):
        # A slow pan across the picture shown 1.5 times as large as the frame.
        wide, tall = round(width * 1.5), round(height * 1.5)
        return (
            f"scale={wide}:{tall},crop={width}:{height}:"
            f"x='(iw-ow)*t/{max(shot.seconds, 0.1):.3f}':y='(ih-oh)/2',setsar=1,fps={fps}"
        )
    if shot.source.startswith("video:"):
        return f"scale={width}:{height},fps={fps},setsar=1,format=yuv420p"
    return "setsar=1,format=yuv420p"


def _flashes(flashes: tuple[Flash, ...]) -> str:
    filters = []
    for flash in flashes:
        last = flash.frame + flash.frames - 1
        when = f"between(n\\,{flash.frame}\\,{last})"
        if flash.style == "white":
            filters.append(f"drawbox=color=white:t=fill:enable='{when}'")
        else:
            filters.append(f"lutyuv=y='min(235\\,val*2+90)':enable='{when}'")
    return ",".join(filters)

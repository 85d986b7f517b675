"""A ``CropPath`` as one FFmpeg filter graph (ADR 0050): the clip's frames, made constant
rate, are split into one branch per shot; each branch keeps its shot's frames (``trim`` by
frame number, so a cut lands on an exact frame) and lays them out (a ``crop`` whose ``x`` and
``y`` are the camera's straight pieces as expressions of the time, two such crops stacked, or
the whole picture fitted); ``concat`` joins the branches back into one stream, which a caption
overlay may finish. One decode, one encode, no intermediate files."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from v100.media._encoding import even, rate_value
from v100.media.smart_crop import CropPath, CropShot, Pan

__all__ = ["crop_graph"]

# The fitted layout's background is blurred at an eighth of the frame, then scaled up.
_BLUR_SHRINK = 8
_BLUR_RADIUS = 10


def crop_graph(
    path: CropPath,
    *,
    start: float,
    end: float,
    rate: str,
    frame: tuple[int, int],
    background: str = "blur",
    overlay: str | None = None,
) -> str:
    """The ``-filter_complex`` for ``[start, end)`` seconds of the source (seeked to
    ``start``), at ``rate`` frames a second in a ``frame`` (width, height) picture; its output
    is labelled ``[v]``."""
    if background not in ("blur", "black"):
        raise ValueError(f"background is 'blur' or 'black', not {background!r}")
    if start < path.start - 1e-6 or end > path.end + 1e-6:
        raise ValueError(
            f"the crop path covers {path.start:g}..{path.end:g} s, not {start:g}..{end:g} s"
        )
    fps = rate_value(rate)
    total = max(1, round((end - start) * fps))
    segments = _segments(path.shots, start, fps, total)
    count = len(segments)
    chains = [f"[0:v:0]fps={rate}" + (f",split={count}" if count > 1 else "")]
    chains[0] += "".join(f"[c{i}]" for i in range(count))
    for i, (first, last, shot) in enumerate(segments):
        offset = start + first / fps
        head = f"[c{i}]trim=start_frame={first}:end_frame={last},setpts=PTS-STARTPTS"
        chains.append(_layout(head, f"{i}", shot, offset, frame, background))
    joined = "".join(f"[v{i}]" for i in range(count))
    tail = f"concat=n={count}:v=1:a=0," if count > 1 else ""
    tail += "setsar=1,format=yuv420p" + (f",{overlay}" if overlay else "")
    chains.append(f"{joined}{tail}[v]")
    return ";".join(chains)


def _segments(
    shots: Sequence[CropShot], start: float, fps: float, total: int
) -> list[tuple[int, int, CropShot]]:
    """(first frame, end frame, shot) of each shot with frames in the clip, back to back."""
    found: list[tuple[int, int, CropShot]] = []
    for number, shot in enumerate(shots):
        first = 0 if number == 0 else min(total, max(0, round((shot.start - start) * fps)))
        last = total if number == len(shots) - 1 else round((shot.end - start) * fps)
        last = min(total, max(0, last))
        if last > first:
            found.append((first, last, shot))
    return found


def _layout(
    head: str,
    name: str,
    shot: CropShot,
    offset: float,
    frame: tuple[int, int],
    background: str,
) -> str:
    width, height = frame
    if shot.layout in ("follow", "centre"):
        crop = _moving_crop(shot.pans[0], offset)
        return f"{head},{crop},scale={width}:{height},setsar=1[v{name}]"
    if shot.layout == "split":
        top_height = even(height / 2)
        heights = (top_height, height - top_height)
        panes = [
            f"[p{name}{k}]{_moving_crop(pan, offset)},scale={width}:{h},setsar=1[q{name}{k}]"
            for k, (pan, h) in enumerate(zip(shot.pans, heights, strict=True))
        ]
        return ";".join(
            [f"{head},split=2[p{name}0][p{name}1]", *panes, f"[q{name}0][q{name}1]vstack[v{name}]"]
        )
    fitted = (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1"
    )
    if background == "black":
        return f"{head},{fitted},pad={width}:{height}:(ow-iw)/2:(oh-ih)/2[v{name}]"
    small_w, small_h = even(width / _BLUR_SHRINK), even(height / _BLUR_SHRINK)
    blurred = (
        f"scale={small_w}:{small_h}:force_original_aspect_ratio=increase,"
        f"crop={small_w}:{small_h},boxblur={_BLUR_RADIUS},scale={width}:{height},setsar=1"
    )
    return ";".join(
        [
            f"{head},split=2[b{name}][f{name}]",
            f"[b{name}]{blurred}[g{name}]",
            f"[f{name}]{fitted}[h{name}]",
            f"[g{name}][h{name}]overlay=(W-w)/2:(H-h)/2[v{name}]",
        ]
    )


def _moving_crop(pan: Pan, offset: float) -> str:
    """``crop`` with ``x`` and ``y`` as expressions of ``t`` (seconds since the segment's first
    frame, which is ``offset`` in the source): the start value plus, for each straight piece,
    its change times how far through it ``t`` is."""
    x = _expression([(t - offset, px) for t, px, _ in pan.points])
    y = _expression([(t - offset, py) for t, _, py in pan.points])
    return f"crop={pan.width}:{pan.height}:'{x}':'{y}'"


def _expression(points: Sequence[tuple[float, int]]) -> str:
    terms = [str(points[0][1])]
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        change = v1 - v0
        if change == 0:
            continue
        since = f"t-{t0:.4f}" if t0 >= 0 else f"t+{-t0:.4f}"
        terms.append(f"{change:+d}*clip(({since})/{t1 - t0:.4f},0,1)")
    return "".join(terms)

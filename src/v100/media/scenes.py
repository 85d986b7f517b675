"""Scene boundaries of a video: hard cuts scored as FFmpeg's ``scdet`` scores frames, camera
flashes told apart from cuts (the picture before the jump comes back within a few frames), fades
through black (a run of black frames and the brightness ramps around it) and dissolves (frames
that are blends of the pictures before and after them), in one decoding pass over small pictures
of only the frames others are predicted from (``_scene_frames``): the measures run on those, and
each boundary is then placed by frame number (a cut across a gap wider than two frames by
decoding that span). ``detect_scenes`` is synchronous and CPU-bound: services run it in a worker
thread or process. ADR 0043 (and its amendment of 2026-12-08) gives the reasons and the measured
comparison with PySceneDetect."""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from v100.media._encoding import DEFAULT_MAX_PIXELS, require_video, run_timeout
from v100.media._frames import analysis_size
from v100.media._scene_features import SceneFeatures, blend_scales
from v100.media._scene_frames import SceneFrames, rescan, scene_frames
from v100.media.probe import MediaInfo

__all__ = [
    "DEFAULT_SCENE_THRESHOLD",
    "Scene",
    "SceneBoundary",
    "SceneDetection",
    "TransitionKind",
    "detect_scenes",
]

TransitionKind = Literal["cut", "fade", "dissolve"]
# How much the picture must change at a boundary: the mean absolute difference across it, as a
# percentage of full scale (scdet's unit), measured on the small analysis frames.
DEFAULT_SCENE_THRESHOLD = 5.0
# A jump whose earlier picture is back within this time, closer than _FLASH_RATIO of the jump
# itself, is a flash (or a glitch), not a cut.
_FLASH_SECONDS = 0.2
_FLASH_RATIO = 0.5
# A cut stands out from the steps around it (fast motion moves every frame a lot): its step
# is at least _CUT_CONTRAST times the median of the _CUT_NEIGHBOURS steps either side (taken
# as at least _STILL, the noise of a still picture).
_CUT_CONTRAST = 2.5
_CUT_NEIGHBOURS = 6
_STILL = 0.3
# Black: mean luma at most this, with at most _LIT_SHARE of the pixels brighter than black.
_BLACK_MEAN = 28.0
_LIT_SHARE = 0.02
# A fade's ramp: each frame at least this much brighter (mean luma) than the next one darker.
_RAMP_STEP = 0.5
# A dissolve frame: the blend of the frames a window before and after it explains it all but
# this share of the change across the window, with a weight between these bounds that climbs
# by _MIN_CLIMB or more over half a window; and no single step inside the window carries more
# than _STEP_SHARE of that change.
_RESIDUAL_SHARE = 0.45
_WEIGHT_RANGE = (0.3, 0.7)
_MIN_CLIMB = 0.3
_STEP_SHARE = 0.5
# Decoded pictures read before the measurements start, to size their windows.
_RATE_SAMPLE = 64


@dataclass(frozen=True, slots=True)
class SceneBoundary:
    # The first frame of the new scene (a fade's: its darkest frame, the middle one of a held
    # black; a dissolve's: its half-way frame) and its time in seconds from the first frame.
    frame: int
    time: float
    kind: TransitionKind
    # The change across the boundary, in the threshold's unit.
    score: float
    # The frames the transition occupies (a cut: ``frame`` alone).
    start_frame: int
    end_frame: int


@dataclass(frozen=True, slots=True)
class Scene:
    index: int
    start_frame: int
    # Exclusive: the next scene's first frame (or the frame count).
    end_frame: int
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class SceneDetection:
    boundaries: list[SceneBoundary]
    scenes: list[Scene]
    frame_count: int
    frame_rate: float
    threshold: float


def detect_scenes(
    src: str | Path,
    info: MediaInfo,
    *,
    threshold: float = DEFAULT_SCENE_THRESHOLD,
    min_scene_length: float = 0.4,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timeout: float | None = None,
) -> SceneDetection:
    """Cuts, fades and dissolves where the picture changes by ``threshold`` or more (lower
    finds more), at least ``min_scene_length`` seconds apart (of two closer ones, the stronger
    stays). A fade to or from black at the very start or end is no boundary: there is no scene
    on its other side."""
    if threshold <= 0:
        raise ValueError("threshold must be positive")
    video = require_video(info, max_pixels=max_pixels)
    size = analysis_size(video.display_width, video.display_height)
    rate = video.frame_rate if video.frame_rate > 0 else 25.0
    limit = timeout if timeout is not None else run_timeout(info.duration, per_second=2)
    started = time.monotonic()
    scan, pictures = scene_frames(src, size, timeout=limit)
    features = _features(scan, pictures, size, rate, threshold)
    count = len(scan.times)
    measured = _Measured.of(features, np.array(scan.decoded, dtype=np.int64))
    fades = _fades(measured, features.flash_frames)
    dissolves = _dissolves(measured, threshold, fades)
    cuts = _cuts(measured, threshold, [*fades, *dissolves])
    remaining = None if limit is None else max(0.0, limit - (time.monotonic() - started))
    cuts = [_placed(cut, measured, src, size, scan, remaining) for cut in cuts]
    found = [b for b in fades if b.score >= threshold] + dissolves + cuts
    kept = _spaced(sorted(found, key=lambda b: b.frame), max(1, round(min_scene_length * rate)))
    frames = measured.frames
    boundaries = [
        SceneBoundary(
            b.frame,
            scan.times[b.frame],
            b.kind,
            round(b.score, 2),
            int(frames[b.start]) if b.kind != "cut" else b.frame,
            int(frames[b.end]) if b.kind != "cut" else b.frame,
        )
        for b in kept
    ]
    return SceneDetection(
        boundaries=boundaries,
        scenes=_scenes(boundaries, scan.times, count, info.duration),
        frame_count=count,
        frame_rate=rate,
        threshold=threshold,
    )


def _features(
    scan: SceneFrames,
    pictures: Iterator[npt.NDArray[np.uint8]],
    size: tuple[int, int],
    rate: float,
    threshold: float,
) -> SceneFeatures:
    """The measurements over the decoded pictures, whose windows are sized in decoded
    pictures: their rate (frames a second times the share decoded) is read from the first
    ``_RATE_SAMPLE`` of them."""
    head = list(itertools.islice(pictures, _RATE_SAMPLE))
    spread = scan.decoded[len(head) - 1] - scan.decoded[0] if head else 0
    decoded_rate = rate * (len(head) - 1) / spread if spread > 0 else rate
    features = SceneFeatures(
        luma=size[0] * size[1],
        scales=blend_scales(decoded_rate),
        flash_frames=max(1, round(_FLASH_SECONDS * decoded_rate)),
        threshold=threshold,
    )
    for picture in itertools.chain(head, pictures):
        features.push(picture)
    features.finish()
    return features


Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _Measured:
    jump: Floats
    back: Floats
    score: Floats
    dark: npt.NDArray[np.bool_]
    brightness: Floats
    span: dict[int, Floats]
    weight: dict[int, Floats]
    residual: dict[int, Floats]
    # The frame number of each decoded picture (the measurements are per decoded picture).
    frames: npt.NDArray[np.int64]

    @classmethod
    def of(cls, features: SceneFeatures, frames: npt.NDArray[np.int64]) -> _Measured:
        v = features.values
        scales = features.scales
        jump = v["jump"]
        # scdet's score: the step, but no more than its own change from the step before, so
        # steady motion (every step large) scores low.
        score = np.minimum(jump, np.abs(np.diff(jump, prepend=0.0)))
        score[0] = 0.0
        return cls(
            jump=jump,
            back=np.minimum(v["back_after"], v["back_before"]),
            score=score,
            dark=(v["brightness"] <= _BLACK_MEAN) & (v["lit"] <= _LIT_SHARE),
            brightness=v["brightness"],
            span={w: v[f"span/{w}"] for w in scales},
            weight={w: v[f"weight/{w}"] for w in scales},
            residual={w: v[f"residual/{w}"] for w in scales},
            frames=frames,
        )

    def change_at(self, frame: int) -> float:
        """The largest change across any window centred on ``frame``."""
        values = [v[frame] for v in self.span.values() if not math.isnan(v[frame])]
        return float(max(values, default=0.0))


@dataclass(frozen=True, slots=True)
class _Found:
    # The boundary's frame number; the decoded pictures (indices into the measurements) the
    # transition occupies.
    frame: int
    kind: TransitionKind
    score: float
    start: int
    end: int


def _fades(m: _Measured, bridge: int) -> list[_Found]:
    """Every run of black frames (a flash of up to ``bridge`` frames inside it bridged) with
    the brightness ramps either side of it; the ones with pictures on both sides become
    boundaries (the others, a fade in at the start or out at the end, still hold other
    detections off), placed at the darkest frame."""
    count = len(m.jump)
    found = []
    n = 0
    while n < count:
        if not m.dark[n]:
            n += 1
            continue
        first = n
        while True:
            while n + 1 < count and m.dark[n + 1]:
                n += 1
            again = np.flatnonzero(m.dark[n + 2 : n + 2 + bridge])
            if not len(again):
                break
            n += 2 + int(again[0])
        last = n
        start, end = first, last
        while start > 0 and m.brightness[start - 1] > m.brightness[start] + _RAMP_STEP:
            start -= 1
        while end + 1 < count and m.brightness[end + 1] > m.brightness[end] + _RAMP_STEP:
            end += 1
        # The darkest frame; the middle of those as dark when black is held.
        levels = np.where(m.dark[first : last + 1], m.brightness[first : last + 1], np.inf)
        darkest = np.flatnonzero(levels <= levels.min() + 1.0)
        middle = first + (int(darkest[0]) + int(darkest[-1]) + 1) // 2
        inside = first > 0 and last < count - 1
        score = m.change_at(middle) if inside else 0.0
        frame = _darkest_frame(m, first + int(darkest[0]), first + int(darkest[-1]))
        found.append(_Found(frame, "fade", score, start, end))
        n += 1
    return found


def _darkest_frame(m: _Measured, low: int, high: int) -> int:
    """The frame in the middle of the darkest decoded pictures ``low``..``high``, reckoning
    with the frames not decoded around them: a held black's first and last frames are taken
    half-way between the darkest pictures and their neighbours, and a single darkest picture
    gives way to where the straight lines of the ramps either side of it meet."""
    frames, level = m.frames, m.brightness
    if low == high and 2 <= low < len(frames) - 2:
        left = _line(frames[low - 2 : low], level[low - 2 : low])
        right = _line(frames[low + 1 : low + 3], level[low + 1 : low + 3])
        if left is not None and right is not None and left[0] < 0 < right[0]:
            meet = (right[1] - left[1]) / (left[0] - right[0])
            if frames[low - 1] < meet < frames[low + 1]:
                return round(meet)
        return int(frames[low])
    first = float(frames[low]) if low == 0 else (frames[low - 1] + 1 + frames[low]) / 2
    last = (
        float(frames[high])
        if high + 1 >= len(frames)
        else (frames[high] + frames[high + 1] - 1) / 2
    )
    return math.floor((first + last + 1) / 2)


def _line(x: npt.NDArray[np.int64], y: Floats) -> tuple[float, float] | None:
    """Slope and intercept of the line through two points (None when they share an x)."""
    if x[1] == x[0]:
        return None
    slope = float(y[1] - y[0]) / float(x[1] - x[0])
    return slope, float(y[0]) - slope * float(x[0])


def _dissolves(m: _Measured, threshold: float, fades: list[_Found]) -> list[_Found]:
    """Runs of frames that are blends of the pictures a window before and after them, where
    the blend weight climbs across the window (in steady motion every frame is "half-way"
    between its neighbours, and the weight stays flat); the boundary is where the weight
    crosses one half, read at the window where it climbs most steeply."""
    count = len(m.jump)
    blocked = np.zeros(count, dtype=bool)
    for fade in fades:
        blocked[fade.start : fade.end + 1] = True
    flagged: dict[int, npt.NDArray[np.bool_]] = {}
    climbs: dict[int, Floats] = {}
    for w, span in m.span.items():
        # In steady motion a picture's weight is its share of the time between the pictures a
        # window either side, one half only when they are as far from it in frames: with
        # frames left undecoded they are not, and that share moving from picture to picture
        # would read as a climb. What is judged is the weight less that share's offset.
        weight = m.weight[w] - (_time_share(m.frames, w) - 0.5)
        climbs[w] = _climb(weight, max(1, w // 2))
        with np.errstate(invalid="ignore"):
            candidate = (
                (span >= threshold)
                & (m.residual[w] <= _RESIDUAL_SHARE * span)
                & (weight >= _WEIGHT_RANGE[0])
                & (weight <= _WEIGHT_RANGE[1])
                & (climbs[w] >= _MIN_CLIMB)
            )
        candidate &= _window_max(m.jump, w) <= _STEP_SHARE * np.nan_to_num(span)
        candidate &= ~_window_any(blocked, w)
        flagged[w] = candidate
    anywhere = np.zeros(count, dtype=bool)
    for candidate in flagged.values():
        anywhere |= candidate
    found = []
    for first, last in _runs(anywhere, gap=2 * min(m.span)):
        steepest = max(
            (w for w, c in flagged.items() if c[first : last + 1].any()),
            key=lambda w: _largest(
                np.where(flagged[w][first : last + 1], climbs[w][first : last + 1], np.nan)
            ),
        )
        frames = np.flatnonzero(flagged[steepest][first : last + 1]) + first
        nearest = int(frames[np.argmin(np.abs(m.weight[steepest][frames] - 0.5))])
        reach = (max(0, first - steepest // 2), min(count - 1, last + steepest // 2))
        middle = _half_way(m.weight[steepest], nearest, reach)
        score = max(_largest(m.span[w][first : last + 1]) for w in flagged)
        start, end = _extent(m, middle)
        weights = m.weight[steepest]
        if _uneven(m.frames, middle, steepest):
            # Frames left undecoded inside the window bias its weight by their time shares:
            # placed by the narrowest window reaching past the transition instead, whose
            # pictures either side are the two shots themselves (the weight is the blend's own).
            half = max(middle - start, end - middle) + 1
            outside = m.weight[min((w for w in m.weight if w >= half), default=steepest)]
            if np.isfinite(outside[middle]) and np.isfinite(outside[max(0, middle - 1)]):
                weights = outside
        frame = _crossing(weights, m.frames, _half_way(weights, middle, reach))
        found.append(_Found(frame, "dissolve", score, start, end))
    return found


def _uneven(frames: npt.NDArray[np.int64], middle: int, w: int) -> bool:
    """Whether any frame within ``w`` pictures of ``middle`` was left undecoded."""
    near = frames[max(0, middle - w) : middle + w + 1]
    return bool(len(near) > 1 and int(near[-1] - near[0]) != len(near) - 1)


def _time_share(frames: npt.NDArray[np.int64], w: int) -> Floats:
    """For each picture n, (frame[n] - frame[n-w]) / (frame[n+w] - frame[n-w]) (NaN off the
    ends): one half wherever every frame was decoded."""
    share = np.full(len(frames), np.nan)
    if len(frames) > 2 * w:
        before, here, after = frames[: -2 * w], frames[w:-w], frames[2 * w :]
        share[w:-w] = (here - before) / np.maximum(after - before, 1)
    return share


def _largest(values: Floats) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if len(finite) else 0.0


def _climb(weight: Floats, half: int) -> Floats:
    """weight[n + half] - weight[n - half] (NaN off the ends)."""
    climb = np.full(len(weight), np.nan)
    if len(weight) > 2 * half:
        climb[half:-half] = weight[2 * half :] - weight[: -2 * half]
    return climb


def _half_way(weight: Floats, near: int, reach: tuple[int, int]) -> int:
    """The first frame at or after the blend's half-way point next to ``near``, within
    ``reach`` (first, last)."""
    if weight[near] >= 0.5:
        while near > reach[0] and weight[near - 1] >= 0.5:
            near -= 1
        return near
    while near < reach[1] and weight[near + 1] < 0.5:
        near += 1
    return min(near + 1, reach[1])


def _cuts(m: _Measured, threshold: float, gradual: list[_Found]) -> list[_Found]:
    """Frames whose scdet score reaches the threshold, outside gradual transitions, standing
    out from the motion around them, whose earlier picture does not come straight back (a
    flash)."""
    covered = np.zeros(len(m.score), dtype=bool)
    for transition in gradual:
        covered[max(0, transition.start - 1) : transition.end + 2] = True
    found = []
    for n in np.flatnonzero(m.score >= threshold):
        frame = int(n)
        if frame == 0 or covered[frame]:
            continue
        if m.back[frame] <= _FLASH_RATIO * m.jump[frame]:
            continue
        around = np.concatenate(
            [
                m.jump[max(1, frame - _CUT_NEIGHBOURS) : frame],
                m.jump[frame + 1 : frame + 1 + _CUT_NEIGHBOURS],
            ]
        )
        if len(around) and m.jump[frame] < _CUT_CONTRAST * max(float(np.median(around)), _STILL):
            continue
        found.append(_Found(int(m.frames[frame]), "cut", float(m.score[frame]), frame, frame))
    return found


def _crossing(weight: Floats, frames: npt.NDArray[np.int64], middle: int) -> int:
    """The first frame at or after the point where the blend weight crosses one half, between
    the decoded picture ``middle`` (the first at or past it) and the one before (read off the
    straight line between their weights, for the frames between them were not decoded)."""
    after = int(frames[middle])
    if middle == 0:
        return after
    before = int(frames[middle - 1])
    low, high = float(weight[middle - 1]), float(weight[middle])
    if after - before < 2 or not low < 0.5 <= high:
        return after
    point = before + (0.5 - low) / (high - low) * (after - before)
    return min(after, max(before + 1, math.ceil(point - 1e-9)))


def _placed(
    cut: _Found,
    m: _Measured,
    src: str | Path,
    size: tuple[int, int],
    scan: SceneFrames,
    timeout: float | None,
) -> _Found:
    """A cut between decoded pictures more than two frames apart, placed on the frame whose
    step is largest once the frames between are decoded (within one frame needs no more when
    they are two apart: the cut is on the skipped frame or the one after it)."""
    before, after = int(m.frames[cut.start - 1]), cut.frame
    if after - before <= 2 or not scan.pts:
        return cut
    pictures = rescan(src, size, scan, before, after, timeout=timeout)
    steps = {
        n: float(np.abs(pictures[n].astype(np.int16) - pictures[n - 1]).mean())
        for n in range(before + 1, after + 1)
        if n in pictures and n - 1 in pictures
    }
    if not steps:
        return cut
    return dataclasses.replace(cut, frame=max(steps, key=steps.__getitem__))


def _spaced(found: list[_Found], min_frames: int) -> list[_Found]:
    """Boundaries at least ``min_frames`` apart: of two closer ones, the stronger."""
    kept: list[_Found] = []
    for boundary in found:
        if kept and boundary.frame - kept[-1].frame < min_frames:
            if boundary.score > kept[-1].score:
                kept[-1] = boundary
            continue
        kept.append(boundary)
    return kept


def _scenes(
    boundaries: list[SceneBoundary], times: list[float], count: int, duration: float
) -> list[Scene]:
    starts = [0, *(b.frame for b in boundaries)]
    ends = [*(b.frame for b in boundaries), count]
    return [
        Scene(
            index=i,
            start_frame=start,
            end_frame=end,
            start=times[start],
            end=times[end] if end < count else round(max(duration, times[-1]), 6),
        )
        for i, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]


def _window_max(values: Floats, w: int) -> Floats:
    """For each n, the largest of values[n-w+1 .. n+w] (the steps inside the window)."""
    padded = np.concatenate([np.zeros(w), values, np.zeros(w)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * w)
    largest: Floats = windows.max(axis=1)[1 : len(values) + 1]
    return largest


def _window_any(values: npt.NDArray[np.bool_], w: int) -> npt.NDArray[np.bool_]:
    padded = np.concatenate([np.zeros(w, dtype=bool), values, np.zeros(w, dtype=bool)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * w + 1)
    result: npt.NDArray[np.bool_] = np.asarray(windows.any(axis=1), dtype=bool)
    return result


def _runs(flags: npt.NDArray[np.bool_], *, gap: int = 1) -> list[tuple[int, int]]:
    """(first, last) of each run of True, runs at most ``gap`` frames apart joined."""
    runs: list[tuple[int, int]] = []
    for n in np.flatnonzero(flags):
        frame = int(n)
        if runs and frame - runs[-1][1] <= gap + 1:
            runs[-1] = (runs[-1][0], frame)
        else:
            runs.append((frame, frame))
    return runs


def _extent(m: _Measured, middle: int) -> tuple[int, int]:
    """The frames a dissolve of length L occupies. The change across a window of 2w frames
    centred on it grows as 2w/L until the window holds it whole, so the narrowest window's
    share of the widest one's change gives L."""
    narrowest, widest = min(m.span), max(m.span)
    whole = m.change_at(middle)
    part = float(m.span[narrowest][middle])
    length = 2.0 * widest
    if whole > 0 and part > 0:
        length = min(max(2.0, 2.0 * narrowest * whole / part), 2.0 * widest)
    half = round(length / 2)
    return max(1, middle - half), middle + half - 1

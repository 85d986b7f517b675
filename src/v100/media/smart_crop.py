"""Smart-crop: where a clip's picture is taken from the source for a target aspect (9:16, 1:1,
4:5), planned from face tracks (``face_tracks``) and an optional active-speaker timeline
(``(start, end, track_id)`` turns). ``plan_crop`` cuts the range into shots, each with one
layout:

- ``follow``: a window of the target aspect follows the active face (or the faces that fit in
  it together), smoothed by a virtual camera with a dead zone, limited speed and limited
  acceleration, so detector noise never moves it and a walking face is panned to smoothly;
- ``centre``: no face: the window stands in the middle;
- ``split``: two faces that do not fit in one window, each in its own pane, stacked;
- ``fit``: more faces than fit (or two, when asked): the whole picture, fitted to the frame.

A change of speaker or of faces is a new shot, which starts with the window already on its
faces: a cut, never a pan across. Shots shorter than ``min_shot`` are absorbed by a
neighbour, so a one-word interjection or a detector's blink does not flicker the layout.
Pure and synchronous: the plan is data (``CropPath``) that ``clip_render`` turns into FFmpeg
filters; times are the source's seconds, sizes its display pixels."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from v100.media.face_tracks import FaceTrack

__all__ = [
    "ASPECTS",
    "CropPath",
    "CropSettings",
    "CropShot",
    "Layout",
    "Pan",
    "SpeakerTurn",
    "Window",
    "crop_from_dict",
    "crop_to_dict",
    "parse_aspect",
    "plan_crop",
]

# Target aspects, width:height.
ASPECTS: dict[str, tuple[int, int]] = {"9:16": (9, 16), "1:1": (1, 1), "4:5": (4, 5)}
Layout = Literal["follow", "centre", "split", "fit"]
# (start, end, track_id): who talks when, in the source's seconds.
SpeakerTurn = tuple[float, float, int]
# Decisions are taken on this grid (seconds); the camera moves frame by frame.
_GRID = 0.1
# Where a followed face's centre sits in the window, from its top (headroom above it).
_FACE_LEVEL = 0.4


def parse_aspect(aspect: str) -> tuple[int, int]:
    """``"9:16"`` -> (9, 16); ``ValueError`` for an aspect not in ``ASPECTS``."""
    if aspect not in ASPECTS:
        raise ValueError(f"aspect is one of {', '.join(ASPECTS)}, not {aspect!r}")
    return ASPECTS[aspect]


@dataclass(frozen=True, slots=True)
class CropSettings:
    # The face may wander this share of the window's width (height) from where the camera
    # wants it before the camera moves; once moving it re-centres to a fifth of that.
    dead_zone: float = 0.12
    # Fastest pan, in window widths (heights) a second, and how fast it gets there.
    max_speed: float = 0.6
    max_acceleration: float = 2.0
    # How hard the camera chases the face (per second): the pan slows as it gets close.
    gain: float = 3.0
    # A shot shorter than this (seconds) is absorbed by a neighbour.
    min_shot: float = 1.0
    # A face lost for up to this long (seconds) still counts where it was last seen.
    hold: float = 1.0
    # Faces fit in one window together when their union, widened by this share, does.
    margin: float = 0.2
    # Two faces that do not fit together: stacked panes, or the whole picture fitted.
    two_faces: Literal["split", "fit"] = "split"
    # A split pane's height, in face heights (at most the picture's).
    pane_faces: float = 3.0

    def __post_init__(self) -> None:
        if self.two_faces not in ("split", "fit"):
            raise ValueError(f"two_faces is 'split' or 'fit', not {self.two_faces!r}")
        if min(self.max_speed, self.max_acceleration, self.gain, self.pane_faces) <= 0:
            raise ValueError("speeds, gain and pane size must be positive")


@dataclass(frozen=True, slots=True)
class Window:
    x: int
    y: int
    width: int
    height: int

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2


@dataclass(frozen=True, slots=True)
class Pan:
    """A window of one size moving in straight pieces: its top-left corner at times,
    ``(t, x, y)``, lines between them, held before the first and after the last."""

    width: int
    height: int
    points: tuple[tuple[float, int, int], ...]

    def window_at(self, t: float) -> Window:
        times = [p[0] for p in self.points]
        i = bisect.bisect_right(times, t)
        if i == 0:
            _, x, y = self.points[0]
        elif i == len(self.points):
            _, x, y = self.points[-1]
        else:
            (t0, x0, y0), (t1, x1, y1) = self.points[i - 1], self.points[i]
            share = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
            x, y = round(x0 + (x1 - x0) * share), round(y0 + (y1 - y0) * share)
        return Window(x, y, self.width, self.height)


@dataclass(frozen=True, slots=True)
class CropShot:
    start: float
    end: float
    layout: Layout
    # The face tracks it shows (split: the top pane's first).
    tracks: tuple[int, ...]
    # follow and centre: one window; split: the top and the bottom pane's; fit: none.
    pans: tuple[Pan, ...] = ()

    def window_at(self, t: float) -> Window:
        """The follow or centre window at ``t`` seconds."""
        if self.layout not in ("follow", "centre"):
            raise ValueError(f"a {self.layout} shot has no single window")
        return self.pans[0].window_at(t)


@dataclass(frozen=True, slots=True)
class CropPath:
    # The source's display size and the target aspect (width, height).
    width: int
    height: int
    aspect: tuple[int, int]
    start: float
    end: float
    shots: tuple[CropShot, ...]

    def shot_at(self, t: float) -> CropShot:
        for shot in self.shots:
            if t < shot.end:
                return shot
        return self.shots[-1]


def crop_to_dict(path: CropPath) -> dict[str, Any]:
    """The plan as JSON-ready data (to store it, or hand it to the service that renders it)."""
    return {
        "width": path.width, "height": path.height, "aspect": list(path.aspect),
        "start": path.start, "end": path.end,
        "shots": [
            {
                "start": shot.start, "end": shot.end, "layout": shot.layout,
                "tracks": list(shot.tracks),
                "pans": [
                    {"width": p.width, "height": p.height, "points": [list(t) for t in p.points]}
                    for p in shot.pans
                ],
            }
            for shot in path.shots
        ],
    }  # fmt: skip


def crop_from_dict(data: dict[str, Any]) -> CropPath:
    """``crop_to_dict``'s data back as a plan; ``ValueError`` when it is not one."""
    try:
        shots = tuple(_shot_from_dict(shot) for shot in data["shots"])
        aspect_w, aspect_h = (int(v) for v in data["aspect"])
        path = CropPath(
            int(data["width"]), int(data["height"]), (aspect_w, aspect_h),
            float(data["start"]), float(data["end"]), shots,
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a crop plan: {exc}") from exc
    if not shots or any(s.layout not in ("follow", "centre", "split", "fit") for s in shots):
        raise ValueError("not a crop plan: no shots, or a layout unknown")
    if any(not p.points for s in shots for p in s.pans):
        raise ValueError("not a crop plan: a pan without points")
    return path


def _shot_from_dict(shot: dict[str, Any]) -> CropShot:
    pans = tuple(
        Pan(int(p["width"]), int(p["height"]),
            tuple((float(t), int(x), int(y)) for t, x, y in p["points"]))
        for p in shot["pans"]
    )  # fmt: skip
    tracks = tuple(int(t) for t in shot["tracks"])
    return CropShot(float(shot["start"]), float(shot["end"]), shot["layout"], tracks, pans)


@dataclass(frozen=True, slots=True)
class _Decision:
    layout: Layout
    tracks: tuple[int, ...]


@dataclass(slots=True)
class _Run:
    start: float
    end: float
    decision: _Decision


def plan_crop(
    tracks: Sequence[FaceTrack],
    *,
    width: int,
    height: int,
    aspect: str,
    start: float,
    end: float,
    speakers: Sequence[SpeakerTurn] | None = None,
    cuts: Sequence[float] = (),
    frame_rate: float = 30.0,
    settings: CropSettings | None = None,
) -> CropPath:
    """The crop of ``[start, end)`` seconds of a ``width`` x ``height`` picture for
    ``aspect``. With ``speakers`` the window follows whoever talks (holding the last speaker
    through pauses); without, it shows every face it can. ``cuts`` are the source's scene
    boundaries (seconds): a face is never held across one. The camera is simulated at
    ``frame_rate`` and kept as the fewest points that stay within a pixel of it."""
    settings = settings or CropSettings()
    if end <= start:
        raise ValueError(f"the range {start:g}..{end:g} s is empty")
    aw, ah = parse_aspect(aspect)
    size = _window_size(width, height, aw / ah)
    faces = _Faces(tracks, hold=settings.hold, cuts=cuts)
    decisions = _decide(faces, speakers, size, width, height, start, end, settings)
    runs = _absorb_short(_runs(decisions, start, end), settings.min_shot)
    shots = []
    for run in runs:
        layout, ids = run.decision.layout, run.decision.tracks
        pans: tuple[Pan, ...]
        if layout in ("follow", "centre"):
            pans = (_camera(faces, ids, run, size, width, height, frame_rate, settings),)
        elif layout == "split":
            pane = _pane_size(faces, ids, run, width, height, aw / ah, settings)
            pans = tuple(
                _camera(faces, (i,), run, pane, width, height, frame_rate, settings) for i in ids
            )
        else:
            pans = ()
        shots.append(CropShot(run.start, run.end, layout, ids, pans))
    return CropPath(width, height, (aw, ah), start, end, tuple(shots))


def _window_size(width: int, height: int, aspect: float) -> tuple[int, int]:
    """The largest window of ``aspect`` inside the picture, even sides."""
    w = min(width, height * aspect)
    h = min(height, width / aspect)
    return min(width, 2 * round(w / 2)), min(height, 2 * round(h / 2))


class _Faces:
    """Each track's face box at any time: straight lines between its samples, held for
    ``hold`` seconds after its last one and half a sample interval before its first, never
    across a scene cut."""

    def __init__(self, tracks: Sequence[FaceTrack], *, hold: float, cuts: Sequence[float]) -> None:
        self._tracks = {t.id: t for t in tracks if t.faces}
        gaps = [
            b.time - a.time for t in self._tracks.values() for a, b in itertools.pairwise(t.faces)
        ]
        lead = sorted(gaps)[len(gaps) // 2] / 2 if gaps else 0.25
        cuts = sorted(cuts)
        self._spans: dict[int, tuple[float, float]] = {}
        for i, track in self._tracks.items():
            before = bisect.bisect_right(cuts, track.start)
            after = bisect.bisect_right(cuts, track.end)
            first = max(track.start - lead, cuts[before - 1] if before else -math.inf)
            last = min(track.end + hold, cuts[after] if after < len(cuts) else math.inf)
            self._spans[i] = (first, last)
        self._times = {i: [f.time for f in t.faces] for i, t in self._tracks.items()}

    def _shown(self, track_id: int, t: float) -> bool:
        first, last = self._spans[track_id]
        return first <= t < last or t == first

    def visible(self, t: float) -> list[int]:
        return [i for i in self._tracks if self._shown(i, t)]

    def box(self, track_id: int, t: float) -> tuple[float, float, float, float] | None:
        """(x, y, width, height) of the track's face at ``t``, None when it is not visible."""
        track = self._tracks.get(track_id)
        if track is None or not self._shown(track_id, t):
            return None
        times = self._times[track_id]
        i = bisect.bisect_right(times, t)
        if i == 0 or i == len(times):
            edge = track.faces[0 if i == 0 else -1].box
            return float(edge.x), float(edge.y), float(edge.width), float(edge.height)
        a, b = track.faces[i - 1], track.faces[i]
        share = (t - a.time) / (b.time - a.time) if b.time > a.time else 1.0
        return (
            a.box.x + (b.box.x - a.box.x) * share,
            a.box.y + (b.box.y - a.box.y) * share,
            a.box.width + (b.box.width - a.box.width) * share,
            a.box.height + (b.box.height - a.box.height) * share,
        )

    def union(self, ids: Sequence[int], t: float) -> tuple[float, float, float, float] | None:
        boxes = [b for b in (self.box(i, t) for i in ids) if b is not None]
        if not boxes:
            return None
        left = min(b[0] for b in boxes)
        top = min(b[1] for b in boxes)
        right = max(b[0] + b[2] for b in boxes)
        bottom = max(b[1] + b[3] for b in boxes)
        return left, top, right - left, bottom - top


def _decide(
    faces: _Faces,
    speakers: Sequence[SpeakerTurn] | None,
    size: tuple[int, int],
    width: int,
    height: int,
    start: float,
    end: float,
    settings: CropSettings,
) -> list[tuple[float, _Decision]]:
    """A decision every ``_GRID`` seconds: whom to show, and how."""
    steps = max(1, math.ceil((end - start) / _GRID - 1e-9))
    decisions = []
    last_speakers: tuple[int, ...] = ()
    for n in range(steps):
        t = start + n * _GRID
        visible = faces.visible(t)
        group: tuple[int, ...] = ()
        if speakers is not None:
            talking = tuple(sorted({i for s, e, i in speakers if s <= t < e and i in visible}))
            if talking:
                last_speakers = talking
            group = tuple(i for i in last_speakers if i in visible)
        if not group:
            group = tuple(sorted(visible))
        decisions.append((t, _layout_for(faces, group, t, size, settings)))
    return decisions


def _layout_for(
    faces: _Faces,
    group: tuple[int, ...],
    t: float,
    size: tuple[int, int],
    settings: CropSettings,
) -> _Decision:
    union = faces.union(group, t)
    if union is None:
        return _Decision("centre", ())
    _, _, w, h = union
    if w * (1 + settings.margin) <= size[0] and h * (1 + settings.margin) <= size[1]:
        return _Decision("follow", group)
    if len(group) == 2 and settings.two_faces == "split":
        # The left face goes on top.
        left_first = sorted(group, key=lambda i: (faces.box(i, t) or (0.0,))[0])
        return _Decision("split", tuple(left_first))
    return _Decision("fit", group)


def _runs(decisions: list[tuple[float, _Decision]], start: float, end: float) -> list[_Run]:
    runs: list[_Run] = []
    for t, decision in decisions:
        if runs and _same(runs[-1].decision, decision):
            continue
        if runs:
            runs[-1].end = t
        runs.append(_Run(t, end, decision))
    runs[0].start = start
    return runs


def _same(a: _Decision, b: _Decision) -> bool:
    # A split keeps its panes whichever face is momentarily further left.
    if a.layout == b.layout == "split":
        return set(a.tracks) == set(b.tracks)
    return a == b


def _absorb_short(runs: list[_Run], min_shot: float) -> list[_Run]:
    """Runs shorter than ``min_shot`` join a neighbour (the longer one), shortest first, and
    neighbours that end up alike merge."""
    while len(runs) > 1:
        shortest = min(range(len(runs)), key=lambda i: runs[i].end - runs[i].start)
        run = runs[shortest]
        if run.end - run.start >= min_shot:
            break
        before = runs[shortest - 1] if shortest > 0 else None
        after = runs[shortest + 1] if shortest + 1 < len(runs) else None
        if after is None or (before is not None and _length(before) >= _length(after)):
            assert before is not None
            before.end = run.end
        else:
            after.start = run.start
        del runs[shortest]
        merged: list[_Run] = []
        for item in runs:
            if merged and _same(merged[-1].decision, item.decision):
                merged[-1].end = item.end
            else:
                merged.append(item)
        runs = merged
    return runs


def _length(run: _Run) -> float:
    return run.end - run.start


def _camera(
    faces: _Faces,
    ids: tuple[int, ...],
    run: _Run,
    size: tuple[int, int],
    width: int,
    height: int,
    frame_rate: float,
    settings: CropSettings,
) -> Pan:
    """The window's corner, frame by frame, kept as the fewest straight pieces."""
    cw, ch = size
    frames = max(1, math.ceil((run.end - run.start) * frame_rate - 1e-9))
    times = [run.start + n / frame_rate for n in range(frames)]
    wanted_x: list[float] = []
    wanted_y: list[float] = []
    for t in times:
        union = faces.union(ids, t)
        if union is None:
            x = wanted_x[-1] if wanted_x else (width - cw) / 2
            y = wanted_y[-1] if wanted_y else (height - ch) / 2
        else:
            ux, uy, uw, uh = union
            x = ux + uw / 2 - cw / 2
            y = uy + uh / 2 - ch * _FACE_LEVEL
        wanted_x.append(min(max(x, 0.0), float(width - cw)))
        wanted_y.append(min(max(y, 0.0), float(height - ch)))
    xs = _follow(wanted_x, cw, width - cw, frame_rate, settings)
    ys = _follow(wanted_y, ch, height - ch, frame_rate, settings)
    points = [(t, round(x), round(y)) for t, x, y in zip(times, xs, ys, strict=True)]
    return Pan(cw, ch, _simplify(points))


def _follow(
    wanted: list[float], span: int, limit: int, frame_rate: float, settings: CropSettings
) -> list[float]:
    """One axis of the camera: it starts where it is wanted (the shot's cut), holds still
    while the target stays within the dead zone, then moves towards it at a speed that
    grows with the distance, within the speed and acceleration limits, and stops once close."""
    dt = 1 / frame_rate
    dead, settle = settings.dead_zone * span, settings.dead_zone * span / 5
    top_speed, accel = settings.max_speed * span, settings.max_acceleration * span
    position, speed, moving = wanted[0], 0.0, False
    out = []
    for goal in wanted:
        error = goal - position
        if not moving and abs(error) > dead:
            moving = True
        elif moving and abs(error) < settle:
            moving = False
        target = math.copysign(min(top_speed, settings.gain * abs(error)), error) if moving else 0
        speed += max(-accel * dt, min(accel * dt, target - speed))
        position += speed * dt
        if position < 0 or position > limit:
            position, speed = min(max(position, 0.0), float(limit)), 0.0
        out.append(position)
    return out


def _simplify(points: list[tuple[float, int, int]]) -> tuple[tuple[float, int, int], ...]:
    """The fewest points whose straight lines stay within a pixel of every frame's window
    (Ramer-Douglas-Peucker on each axis at once), first and last kept."""
    keep = {0, len(points) - 1}
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        t0, x0, y0 = points[first]
        t1, x1, y1 = points[last]
        worst, at = 0.0, -1
        for i in range(first + 1, last):
            t, x, y = points[i]
            share = (t - t0) / (t1 - t0)
            off = max(abs(x - (x0 + (x1 - x0) * share)), abs(y - (y0 + (y1 - y0) * share)))
            if off > worst:
                worst, at = off, i
        if worst > 1.0:
            keep.add(at)
            stack += [(first, at), (at, last)]
    return tuple(points[i] for i in sorted(keep))


def _pane_size(
    faces: _Faces,
    ids: tuple[int, ...],
    run: _Run,
    width: int,
    height: int,
    aspect: float,
    settings: CropSettings,
) -> tuple[int, int]:
    """A split pane: twice as wide as the frame's aspect (each is half the frame),
    ``pane_faces`` times the faces' median height tall, within the picture."""
    pane_aspect = aspect * 2
    heights = sorted(
        box[3]
        for i in ids
        for n in range(9)
        if (box := faces.box(i, run.start + (run.end - run.start) * n / 8)) is not None
    )
    face = heights[len(heights) // 2] if heights else height / settings.pane_faces
    ph = min(float(height), max(face * settings.pane_faces, 16.0), width / pane_aspect)
    return 2 * math.floor(ph * pane_aspect / 2), 2 * math.floor(ph / 2)

"""Motion through a video: the picture's **motion curve** (how much of the picture changes, per
interval) and each face track's **mouth activity** (how much its mouth region changes beyond
what the rest of the face does), what ``active_speaker`` matches with the speech. Frames are
taken ``sample_rate`` times a second (8 by default: syllables come at 4-6 a second) and fed to a
``MotionMeter``: by the faces' own decoding pass as the tracks form
(``video_signals.picture_signals(..., motion=True)``, what an analysis runs), or by
``motion_signals``, a pass of its own through ``pick_frames`` for tracks known beforehand. Both
give the same values.

- Motion: each sample shrunk to 64x36 luma; the mean absolute difference from the sample before,
  as a percentage of full scale (scdet's unit), averaged per ``interval``.
- Mouth activity: a track's box, interpolated between the samples its faces were found on, gives
  two regions: the mouth (the box's lower third, its middle 60%) and the eyes (its upper middle
  band). Both shrunk to 24x12, their own mean taken off (light changes), each compared with the
  same track's previous sample. Activity is the mouth's change less the eyes' (a moving head
  moves both; a talking mouth only the first), floored at 0.

Synchronous and CPU-bound: services run it in a worker thread or process."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from v100.media._encoding import DEFAULT_MAX_PIXELS, require_video
from v100.media._frames import PickedFrame, gray, pick_frames
from v100.media.face_tracks import FaceTrack
from v100.media.faces import FaceBox
from v100.media.probe import MediaInfo

__all__ = ["MotionMeter", "MotionSignals", "interpolated_box", "motion_signals"]

Floats = npt.NDArray[np.float32]
_SMALL = (64, 36)
_REGION = (24, 12)
# Parts of a frontal Haar box (x, y, width, height as shares of the box).
_MOUTH = (0.2, 0.64, 0.6, 0.3)
_EYES = (0.15, 0.22, 0.7, 0.3)


@dataclass(frozen=True, slots=True)
class MotionSignals:
    interval: float
    # One value per interval from 0: percent of full scale (0 where nothing was sampled).
    motion: list[float]
    # Track id -> (time, activity) at each sample the track was on screen.
    mouths: dict[int, list[tuple[float, float]]]


def interpolated_box(track: FaceTrack, frame: int) -> FaceBox | None:
    """The track's box at ``frame``, between the two samples around it; None outside it."""
    faces = track.faces
    if not faces or frame < faces[0].frame or frame > faces[-1].frame:
        return None
    for before, after in itertools.pairwise(faces):
        if before.frame <= frame <= after.frame:
            share = (frame - before.frame) / max(1, after.frame - before.frame)
            a, b = before.box, after.box
            return FaceBox(
                round(a.x + (b.x - a.x) * share),
                round(a.y + (b.y - a.y) * share),
                round(a.width + (b.width - a.width) * share),
                round(a.height + (b.height - a.height) * share),
                a.score,
                a.view,
            )
    return faces[-1].box


def _region(luma: npt.NDArray[np.uint8], box: FaceBox, part: tuple[float, ...]) -> Floats | None:
    import cv2

    left = round(box.x + part[0] * box.width)
    top = round(box.y + part[1] * box.height)
    right = round(left + part[2] * box.width)
    bottom = round(top + part[3] * box.height)
    left, top = max(0, left), max(0, top)
    right, bottom = min(luma.shape[1], right), min(luma.shape[0], bottom)
    if right - left < 4 or bottom - top < 3:
        return None
    small = cv2.resize(luma[top:bottom, left:right], _REGION, interpolation=cv2.INTER_AREA)
    values = small.astype(np.float32)
    centred: Floats = values - values.mean()
    return centred


class MotionMeter:
    """The motion curve and the mouths, fed gray samples in frame order (``wanted`` says
    which frames): ``add`` measures the picture's change, ``mouth`` a track's activity at a
    sample (a track's samples in frame order). ``motion_signals`` feeds it from a decoding
    pass of its own; ``video_signals.picture_signals`` from the one its faces are found in,
    as the tracks form."""

    def __init__(
        self,
        info: MediaInfo,
        *,
        interval: float = 0.5,
        sample_rate: float = 8.0,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        video = require_video(info, max_pixels=max_pixels)
        if interval <= 0 or sample_rate <= 0:
            raise ValueError("interval and sample_rate must be positive")
        rate = video.frame_rate if video.frame_rate > 0 else 25.0
        self.step = max(1, round(rate / sample_rate))
        self._interval = interval
        self._display_width = video.display_width
        duration = info.duration or 0.0
        self._sums = np.zeros(max(1, math.ceil(duration / interval)), dtype=np.float64)
        self._counts = np.zeros_like(self._sums)
        self._previous: Floats | None = None
        self._mouths: dict[int, list[tuple[float, float]]] = {}
        # Per track: the frame of its last sample and its mouth and eyes then.
        self._last: dict[int, tuple[int, Floats, Floats]] = {}

    def wanted(self, index: int) -> bool:
        return index % self.step == 0

    def add(self, picked: PickedFrame) -> None:
        """A sample (gray, upright, at any size): its change from the sample before."""
        import cv2

        small = cv2.resize(picked.pixels, _SMALL, interpolation=cv2.INTER_AREA)
        values = small.astype(np.float32)
        if self._previous is not None:
            slot = min(int(picked.time / self._interval), self._sums.size - 1)
            if slot >= 0:
                self._sums[slot] += float(np.abs(values - self._previous).mean()) / 2.55
                self._counts[slot] += 1
        self._previous = values

    def mouth(self, track: int, picked: PickedFrame, box: FaceBox) -> None:
        """Track ``track``'s mouth activity at a sample, its box in display pixels there."""
        luma = picked.pixels
        box = box.scaled(luma.shape[1] / self._display_width)
        mouth, eyes = _region(luma, box, _MOUTH), _region(luma, box, _EYES)
        if mouth is None or eyes is None:
            return
        samples = self._mouths.setdefault(track, [])
        before = self._last.get(track)
        if before is not None and picked.index - before[0] <= 2 * self.step:
            change = float(np.abs(mouth - before[1]).mean())
            steady = float(np.abs(eyes - before[2]).mean())
            samples.append((picked.time, max(0.0, change - steady)))
        self._last[track] = (picked.index, mouth, eyes)

    def result(self, tracks: dict[int, int] | None = None) -> MotionSignals:
        """The curve and the mouths, keyed by ``tracks`` (the ids fed to ``mouth`` -> the
        ids given; tracks not in it left out) or by the ids fed."""
        curve = np.divide(
            self._sums, self._counts, out=np.zeros_like(self._sums), where=self._counts > 0
        )
        if tracks is None:
            mouths = dict(self._mouths)
        else:
            mouths = {given: self._mouths.get(fed, []) for fed, given in tracks.items()}
        return MotionSignals(
            interval=self._interval, motion=[round(float(v), 3) for v in curve], mouths=mouths
        )


def motion_signals(
    src: str | Path,
    info: MediaInfo,
    tracks: Sequence[FaceTrack],
    *,
    interval: float = 0.5,
    sample_rate: float = 8.0,
    max_width: int = 640,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> MotionSignals:
    """The motion curve of ``src`` and the mouth activity of each of ``tracks`` (boxes in the
    video's display pixels, as ``FaceTracker`` gives them), in a decoding pass of its own
    (``picture_signals(..., motion=True)`` reads the same in the faces' pass)."""
    meter = MotionMeter(info, interval=interval, sample_rate=sample_rate, max_pixels=max_pixels)
    for picked in pick_frames(src, meter.wanted, max_width=max_width):
        sample = PickedFrame(picked.index, picked.time, gray(picked.pixels))
        meter.add(sample)
        for track in tracks:
            box = interpolated_box(track, picked.index)
            if box is not None:
                meter.mouth(track.id, sample, box)
    return meter.result({t.id: t.id for t in tracks})

"""Face tracks through a video: faces found on frames sampled a few times a second
(``FaceDetector``), joined from sample to sample by the overlap (IoU) of each track's box,
moved on by its last velocity; where a track's frontal face is not found, the profile
cascade looks where it was heading (a turned head). A track survives ``max_missed`` samples
without a face (a blink of the detector, a hand) and ends at a scene boundary;
ids are stable, numbered in order of first appearance. Active speakers (which track talks)
need the audio and come with the analysis service. ``FaceTracker`` is fed the frames of a
decoding pass (``video_signals.picture_signals``); synchronous and CPU-bound."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from v100.media._encoding import DEFAULT_MAX_PIXELS, require_video
from v100.media._frames import PickedFrame
from v100.media.faces import FaceBox, FaceDetector, iou
from v100.media.probe import MediaInfo

__all__ = ["FaceTrack", "FaceTracker", "TrackedFace"]


@dataclass(frozen=True, slots=True)
class TrackedFace:
    frame: int
    time: float
    # In pixels of the displayed picture (the source's display size).
    box: FaceBox


@dataclass(slots=True)
class FaceTrack:
    id: int
    faces: list[TrackedFace] = field(default_factory=list)
    missed: int = 0

    @property
    def start(self) -> float:
        return self.faces[0].time

    @property
    def end(self) -> float:
        return self.faces[-1].time

    def expected(self, frame: int) -> FaceBox:
        """Where the face should be at ``frame``: its last box moved on at its last speed."""
        last = self.faces[-1]
        if len(self.faces) < 2:
            return last.box
        before = self.faces[-2]
        share = (frame - last.frame) / max(1, last.frame - before.frame)
        return FaceBox(
            round(last.box.x + (last.box.x - before.box.x) * share),
            round(last.box.y + (last.box.y - before.box.y) * share),
            last.box.width,
            last.box.height,
            last.box.score,
            last.box.view,
        )


class FaceTracker:
    """Fed sampled frames in order (``wanted`` says which), ``tracks`` gives the result. Faces
    are looked for on ``sample_rate`` frames a second; tracks end at the frames in
    ``boundaries`` (scene starts); tracks seen on fewer than ``min_faces`` samples are
    dropped as stray finds."""

    def __init__(
        self,
        info: MediaInfo,
        *,
        sample_rate: float = 2.0,
        boundaries: Sequence[int] = (),
        max_missed: int = 2,
        min_iou: float = 0.2,
        min_faces: int = 2,
        detector: FaceDetector | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        video = require_video(info, max_pixels=max_pixels)
        if sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        rate = video.frame_rate if video.frame_rate > 0 else 25.0
        self._step = max(1, round(rate / sample_rate))
        self._width = video.display_width
        self._cuts = sorted(boundaries)
        self._cut_at = 0
        self._max_missed = max_missed
        self._min_iou = min_iou
        self._min_faces = min_faces
        self._detector = detector or FaceDetector()
        self._active: list[FaceTrack] = []
        self._done: list[FaceTrack] = []
        self._next_id = 1

    def wanted(self, index: int) -> bool:
        return index % self._step == 0

    def add(self, picked: PickedFrame) -> list[FaceTrack]:
        """A sampled frame, gray, upright, at any size (boxes are scaled to the video's).
        Returns the tracks this sample may have added a face to or ended (those active
        before or after it: their faces so far, ids as fed, not yet as ``tracks`` numbers
        them; ``numbering`` maps them)."""
        before = list(self._active)
        while self._cut_at < len(self._cuts) and self._cuts[self._cut_at] <= picked.index:
            self._done += self._active
            self._active = []
            self._cut_at += 1
        factor = self._width / picked.pixels.shape[1]
        faces = [b.scaled(factor) for b in self._detector.detect(picked.pixels)]
        matched = _match(self._active, faces, picked.index, self._min_iou)
        matched += _turned(self._detector, picked, self._active, matched, factor, self._min_iou)
        for track, face in matched:
            track.faces.append(TrackedFace(picked.index, picked.time, face))
            track.missed = 0
        taken = {id(face) for _, face in matched}
        seen = {id(track) for track, _ in matched}
        for track in self._active:
            if id(track) not in seen:
                track.missed += 1
        self._done += [t for t in self._active if t.missed > self._max_missed]
        self._active = [t for t in self._active if t.missed <= self._max_missed]
        for face in faces:
            if id(face) not in taken:
                first = TrackedFace(picked.index, picked.time, face)
                self._active.append(FaceTrack(self._next_id, [first]))
                self._next_id += 1
        known = {id(track) for track in before}
        return before + [t for t in self._active if id(t) not in known]

    def tracks(self) -> list[FaceTrack]:
        """The tracks so far, numbered from 1 in order of first appearance."""
        found = {t.id: t for t in self._done + self._active}
        return [
            FaceTrack(number, list(found[fed].faces)) for fed, number in self.numbering().items()
        ]

    def running(self) -> set[int]:
        """The ids (as fed) of the tracks that may still find a face."""
        return {t.id for t in self._active}

    def numbering(self) -> dict[int, int]:
        """The id each track kept so far was fed under (``add``'s) -> its id in ``tracks``."""
        found = [t.id for t in self._done + self._active if len(t.faces) >= self._min_faces]
        return {fed: number for number, fed in enumerate(sorted(found), start=1)}


def _turned(
    detector: FaceDetector,
    picked: PickedFrame,
    active: list[FaceTrack],
    matched: list[tuple[FaceTrack, FaceBox]],
    factor: float,
    min_iou: float,
) -> list[tuple[FaceTrack, FaceBox]]:
    """Tracks the frontal detector lost on this sample, found again in profile where they
    were heading."""
    seen = {id(track) for track, _ in matched}
    found = []
    for track in active:
        if id(track) in seen:
            continue
        expected = track.expected(picked.index)
        turned = detector.profiles(picked.pixels, expected.scaled(1 / factor))
        best = max((b.scaled(factor) for b in turned), key=lambda b: iou(expected, b), default=None)
        if best is not None and iou(expected, best) >= min_iou:
            found.append((track, best))
    return found


def _match(
    tracks: list[FaceTrack], faces: list[FaceBox], frame: int, min_iou: float
) -> list[tuple[FaceTrack, FaceBox]]:
    """Greedy pairing, most overlapping first; each track and face used once."""
    pairs = sorted(
        (
            (iou(track.expected(frame), face), t, f)
            for t, track in enumerate(tracks)
            for f, face in enumerate(faces)
        ),
        reverse=True,
    )
    used_tracks: set[int] = set()
    used_faces: set[int] = set()
    matched = []
    for overlap, t, f in pairs:
        if overlap < min_iou or t in used_tracks or f in used_faces:
            continue
        used_tracks.add(t)
        used_faces.add(f)
        matched.append((tracks[t], faces[f]))
    return matched

"""Face tracks through a video: faces found on frames sampled a few times a second
(``FaceDetector``), joined from sample to sample by the overlap (IoU) of each track's box,
moved on by its last velocity; where a track's frontal face is not found, the profile
cascade looks where it was heading (a turned head). A track survives ``max_missed`` samples
without a face (a blink of the detector, a hand) and ends at a scene boundary;
ids are stable, numbered in order of first appearance. Active speakers (which track talks)
need the audio and come with the analysis service. Synchronous and CPU-bound."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from v100.media._encoding import DEFAULT_MAX_PIXELS, require_video
from v100.media._frames import PickedFrame, pick_frames
from v100.media.faces import FaceBox, FaceDetector, iou
from v100.media.probe import MediaInfo

__all__ = ["FaceTrack", "TrackedFace", "track_faces"]


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


def track_faces(
    src: str | Path,
    info: MediaInfo,
    *,
    sample_rate: float = 2.0,
    max_width: int = 640,
    boundaries: Sequence[int] = (),
    max_missed: int = 2,
    min_iou: float = 0.2,
    min_faces: int = 2,
    detector: FaceDetector | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[FaceTrack]:
    """Tracks of the faces seen on ``sample_rate`` frames a second, detected on pictures no
    wider than ``max_width``. Tracks end at the frames in ``boundaries`` (scene starts);
    tracks seen on fewer than ``min_faces`` samples are dropped as stray finds."""
    video = require_video(info, max_pixels=max_pixels)
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    rate = video.frame_rate if video.frame_rate > 0 else 25.0
    step = max(1, round(rate / sample_rate))
    cuts = sorted(boundaries)
    detector = detector or FaceDetector()
    factor = max(1.0, video.display_width / max_width)
    active: list[FaceTrack] = []
    done: list[FaceTrack] = []
    next_id = 1
    cut_at = 0
    for picked in pick_frames(src, lambda n: n % step == 0, max_width=max_width, gray=True):
        while cut_at < len(cuts) and cuts[cut_at] <= picked.index:
            done += active
            active = []
            cut_at += 1
        faces = [b.scaled(factor) for b in detector.detect(picked.pixels)]
        matched = _match(active, faces, picked.index, min_iou)
        matched += _turned(detector, picked, active, matched, factor, min_iou)
        for track, face in matched:
            track.faces.append(TrackedFace(picked.index, picked.time, face))
            track.missed = 0
        taken = {id(face) for _, face in matched}
        seen = {id(track) for track, _ in matched}
        for track in active:
            if id(track) not in seen:
                track.missed += 1
        done += [t for t in active if t.missed > max_missed]
        active = [t for t in active if t.missed <= max_missed]
        for face in faces:
            if id(face) not in taken:
                active.append(FaceTrack(next_id, [TrackedFace(picked.index, picked.time, face)]))
                next_id += 1
    kept = sorted((t for t in done + active if len(t.faces) >= min_faces), key=lambda t: t.id)
    for number, track in enumerate(kept, start=1):
        track.id = number
        track.missed = 0
    return kept


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

"""What the highlight finder reads besides the transcript: a video's signals as small plain
values (the video_analysis service fills them from its stored stages), with converters from
the media library's own results. A signal left ``None`` was not measured, which is not the
same as measured and empty (no cuts, no faces, no speech)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from v100.ai.vad import SpeechRegion
from v100.media.face_tracks import FaceTrack
from v100.media.scenes import SceneDetection, TransitionKind

__all__ = [
    "Curve",
    "Cut",
    "FaceSpan",
    "SpeechSpan",
    "VideoSignals",
    "cuts_from_scenes",
    "faces_from_tracks",
    "speech_from_regions",
]


@dataclass(frozen=True, slots=True)
class Cut:
    """A scene boundary: where the picture changes (a cut, the darkest frame of a fade, the
    half-way frame of a dissolve)."""

    time: float
    kind: TransitionKind = "cut"


@dataclass(frozen=True, slots=True)
class FaceSpan:
    """A face track's time on screen."""

    track_id: int
    start: float
    end: float
    # The face's mean height as a share of the picture's height (0-1): a close-up is large.
    size: float


@dataclass(frozen=True, slots=True)
class SpeechSpan:
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Curve:
    """A measure sampled evenly: ``values[i]`` covers ``[start + i*step, start + (i+1)*step)``.
    Only its values relative to the same video's are read, so any unit does: loudness in dB
    (short-term LUFS, or an RMS energy as dBFS), motion as the mean absolute difference between
    frames."""

    start: float
    step: float
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.step <= 0:
            raise ValueError("a curve's step must be positive")


@dataclass(frozen=True, slots=True)
class VideoSignals:
    """Everything measured on one video; ``duration`` in seconds bounds every time."""

    duration: float
    cuts: tuple[Cut, ...] | None = None
    faces: tuple[FaceSpan, ...] | None = None
    speech: tuple[SpeechSpan, ...] | None = None
    loudness: Curve | None = None
    motion: Curve | None = None


def cuts_from_scenes(detection: SceneDetection) -> tuple[Cut, ...]:
    return tuple(Cut(boundary.time, boundary.kind) for boundary in detection.boundaries)


def faces_from_tracks(tracks: Sequence[FaceTrack], picture_height: int) -> tuple[FaceSpan, ...]:
    """Each track's span, its faces' mean height over ``picture_height`` (the display
    height its boxes are measured in)."""
    spans = []
    for track in tracks:
        if not track.faces:
            continue
        height = sum(face.box.height for face in track.faces) / len(track.faces)
        spans.append(
            FaceSpan(track.id, track.start, track.end, min(1.0, height / max(1, picture_height)))
        )
    return tuple(spans)


def speech_from_regions(regions: Sequence[SpeechRegion]) -> tuple[SpeechSpan, ...]:
    return tuple(SpeechSpan(region.start_s, region.end_s) for region in regions)

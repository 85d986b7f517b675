"""The media library's results turned into the highlight finder's inputs: scene boundaries
into cuts, face tracks into spans with their faces' size, VAD regions into speech spans."""

from __future__ import annotations

import pytest

from v100.ai.highlights import (
    Curve,
    Cut,
    FaceSpan,
    SpeechSpan,
    cuts_from_scenes,
    faces_from_tracks,
    speech_from_regions,
)
from v100.ai.vad import SpeechRegion
from v100.media.face_tracks import FaceTrack, TrackedFace
from v100.media.faces import FaceBox
from v100.media.scenes import Scene, SceneBoundary, SceneDetection


def test_scene_boundaries_become_cuts() -> None:
    boundaries = [
        SceneBoundary(50, 2.0, "cut", 30.0, 50, 50),
        SceneBoundary(120, 4.8, "dissolve", 12.0, 110, 130),
    ]
    scenes = [Scene(0, 0, 50, 0.0, 2.0), Scene(1, 50, 120, 2.0, 4.8), Scene(2, 120, 200, 4.8, 8.0)]
    detection = SceneDetection(boundaries, scenes, 200, 25.0, 5.0)
    assert cuts_from_scenes(detection) == (Cut(2.0, "cut"), Cut(4.8, "dissolve"))


def test_face_tracks_become_spans_with_their_mean_size() -> None:
    def face(frame: int, height: int) -> TrackedFace:
        return TrackedFace(frame, frame / 25, FaceBox(100, 50, height, height, 1.0, "frontal"))

    track = FaceTrack(3, [face(0, 180), face(12, 200), face(25, 220)])
    assert faces_from_tracks([track, FaceTrack(4)], picture_height=720) == (
        FaceSpan(3, 0.0, 1.0, pytest.approx(200 / 720)),
    )


def test_vad_regions_become_speech_spans() -> None:
    regions = [SpeechRegion(8000, 24000), SpeechRegion(32000, 40000)]
    assert speech_from_regions(regions) == (SpeechSpan(0.5, 1.5), SpeechSpan(2.0, 2.5))


def test_a_curve_needs_a_positive_step() -> None:
    with pytest.raises(ValueError, match="positive"):
        Curve(0.0, 0.0, (1.0,))

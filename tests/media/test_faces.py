"""Faces: the astronaut's face placed at known positions and sizes on generated backgrounds is
found where it was put, overlapping finds are merged, and faces moving across a video become
tracks with stable ids, surviving a short blind spell, ending at a cut."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from v100.media import ffmpeg_path, probe_sync
from v100.media.face_tracks import FaceTrack
from v100.media.faces import FaceBox, FaceDetector, iou, suppress
from v100.media.scenes import detect_scenes
from v100.media.testing_faces import Placement, compose, make_face_video, placement_at
from v100.media.video_signals import picture_signals


def _tracks(source: Path, *, cuts: bool = True) -> list[FaceTrack]:
    """Face tracks sampled 4 times a second, ending at scene cuts (or not)."""
    info = probe_sync(source)
    detection = detect_scenes(source, info)
    if not cuts:
        detection = replace(detection, boundaries=[])
    signals = picture_signals(source, info, detection, keyframes=False, face_sample_rate=4)
    return signals.face_tracks


def _box(truth: tuple[int, int, int, int]) -> FaceBox:
    return FaceBox(*truth, score=0.0, view="truth")


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.mark.parametrize(
    "placements",
    [
        [Placement(40, 30, 96)],
        [Placement(380, 120, 48, mirrored=True)],
        [Placement(10, 10, 40), Placement(350, 40, 80, mirrored=True)],
    ],
)
def test_faces_found_where_they_were_put(
    detector: FaceDetector, placements: list[Placement]
) -> None:
    rng = np.random.default_rng(7)
    background = cv2.GaussianBlur(rng.integers(0, 255, (360, 640, 3), dtype=np.uint8), (9, 9), 3)
    frame, truth = compose(background, placements)
    found = detector.detect(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
    assert len(found) == len(truth) == len(placements)
    for box in truth:
        assert max(iou(_box(box), f) for f in found) >= 0.6
    assert {f.view for f in found} == {"frontal"}


def test_nothing_on_an_empty_picture(detector: FaceDetector) -> None:
    assert detector.detect(np.full((360, 640), 128, np.uint8)) == []


def test_profiles_look_around_a_lost_face_only(detector: FaceDetector) -> None:
    # No package ships a face in profile: this checks the search region, not the cascade.
    blank = np.full((360, 640), 128, np.uint8)
    assert detector.profiles(blank, FaceBox(600, 320, 80, 80, 0.0, "frontal")) == []
    assert detector.profiles(blank, FaceBox(0, 0, 10, 10, 0.0, "frontal")) == []  # too small
    frame, (truth,) = compose(np.full((360, 640, 3), 100, np.uint8), [Placement(200, 60, 100)])
    far = FaceBox(truth[0] + 300, truth[1], truth[2], truth[3], 0.0, "frontal")
    assert detector.profiles(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), far) == []


def test_non_maximum_suppression() -> None:
    strong = FaceBox(100, 100, 50, 50, 5.0, "frontal")
    shifted = FaceBox(105, 104, 50, 50, 3.0, "frontal")
    inner = FaceBox(110, 110, 25, 25, 4.0, "profile")
    apart = FaceBox(300, 100, 50, 50, 1.0, "frontal")
    assert suppress([shifted, inner, apart, strong]) == [strong, apart]
    assert iou(strong, strong) == 1.0
    assert iou(strong, apart) == 0.0


def test_a_moving_face_is_one_track(tmp_path: Path) -> None:
    move = (Placement(20, 40, 80), Placement(380, 90, 80))
    source = make_face_video(tmp_path / "f.mp4", [move], seconds=4, background="smptebars")
    tracks = _tracks(source)
    assert len(tracks) == 1
    (track,) = tracks
    assert track.id == 1
    assert len(track.faces) >= 14  # 16 samples
    for face in track.faces:
        expected = placement_at(move, face.time, 4).box()
        assert iou(face.box, _box(expected)) >= 0.5
    assert track.start < 0.3
    assert track.end > 3.5


def test_two_faces_two_ids_through_a_blind_spell(tmp_path: Path) -> None:
    left = (Placement(0, 20, 70), Placement(120, 40, 70))
    right = (Placement(420, 120, 60, mirrored=True), Placement(300, 100, 60, mirrored=True))
    source = make_face_video(
        tmp_path / "two.mp4", [left, right], seconds=4, background="testsrc2", hidden=(1.6, 2.0)
    )
    # The grey spell reads as two cuts (0.4 s of another picture): tracks kept across them.
    tracks = _tracks(source, cuts=False)
    assert [t.id for t in tracks] == [1, 2]
    for track, move in zip(
        sorted(tracks, key=lambda t: t.faces[0].box.x), (left, right), strict=True
    ):
        assert track.start < 0.3
        assert track.end > 3.5  # carried over two samples without faces
        assert not any(1.6 < f.time < 2.0 for f in track.faces)
        assert all(
            iou(f.box, _box(placement_at(move, f.time, 4).box())) >= 0.5 for f in track.faces
        )


def test_tracks_end_at_a_cut(tmp_path: Path) -> None:
    still = (Placement(200, 60, 80), Placement(200, 60, 80))
    first = make_face_video(tmp_path / "a.mp4", [still], seconds=2, background="smptebars")
    second = make_face_video(tmp_path / "b.mp4", [still], seconds=2, background="testsrc2")
    joined = tmp_path / "joined.mp4"
    subprocess.run(
        [ffmpeg_path(), "-v", "error", "-i", str(first), "-i", str(second), "-filter_complex",
         "[0:v][1:v]concat=n=2:v=1:a=0", "-c:v", "libx264", "-preset", "ultrafast", str(joined)],
        check=True,
    )  # fmt: skip
    assert [b.frame for b in detect_scenes(joined, probe_sync(joined)).boundaries] == [50]
    tracks = _tracks(joined)
    assert [(t.id, t.start < 2, t.end > 2) for t in tracks] == [(1, True, False), (2, False, True)]
    assert len(_tracks(joined, cuts=False)) == 1  # the same face, the same place

"""Keyframes: one per scene, the sharpest of the scene's steady frames (a blurred opening is
passed over), as JPEG or WebP bytes that decode to the returned size; upright for a rotated
source."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from v100.media import ffmpeg_path, probe_sync
from v100.media.keyframes import Keyframe
from v100.media.scenes import detect_scenes
from v100.media.testing import make_video
from v100.media.testing_scenes import Join, Shot, make_shots
from v100.media.video_signals import picture_signals


def _blurred_then_sharp(path: Path) -> Path:
    """2 s of testsrc2 blurred for its first 1.2 s, then a cut to smptebars."""
    source = path.with_name("plain.mp4")
    make_shots(source, [Shot("testsrc2", 2), Shot("smptebars", 1)], [Join("cut")])
    subprocess.run(
        [ffmpeg_path(), "-v", "error", "-y", "-i", str(source), "-vf",
         "gblur=sigma=6:enable='lt(n,30)'", "-c:v", "libx264", "-preset", "ultrafast", str(path)],
        check=True,
    )  # fmt: skip
    return path


def _keyframes(source: Path, **options: object) -> list[Keyframe]:
    info = probe_sync(source)
    detection = detect_scenes(source, info)
    return picture_signals(source, info, detection, faces=False, **options).keyframes  # type: ignore[arg-type]


def _decode(data: bytes) -> np.ndarray:
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    return picture


def test_the_sharpest_frame_of_each_scene(tmp_path: Path) -> None:
    source = _blurred_then_sharp(tmp_path / "v.mp4")
    assert [b.frame for b in detect_scenes(source, probe_sync(source)).boundaries] == [50]
    keyframes = _keyframes(source)
    assert [k.scene for k in keyframes] == [0, 1]
    first, second = keyframes
    assert 30 <= first.frame < 50  # not the blurred opening
    assert 50 <= second.frame < 75
    assert first.time == pytest.approx(first.frame / 25, abs=1e-3)
    assert first.sharpness > 0
    for keyframe in keyframes:
        assert keyframe.image[:3] == b"\xff\xd8\xff"
        assert keyframe.format == "jpeg"
        assert _decode(keyframe.image).shape[:2] == (keyframe.height, keyframe.width) == (180, 320)


def test_webp_and_a_smaller_picture(tmp_path: Path) -> None:
    source = tmp_path / "v.mp4"
    make_shots(source, [Shot("testsrc2", 1)], [], width=640, height=360)
    (keyframe,) = _keyframes(source, image_format="webp", max_width=200)
    assert keyframe.image[:4] == b"RIFF"
    assert keyframe.image[8:12] == b"WEBP"
    assert (keyframe.width, keyframe.height) == (200, 112)
    assert _decode(keyframe.image).shape[:2] == (112, 200)
    with pytest.raises(ValueError, match="quality"):
        _keyframes(source, quality=0)


def test_upright_for_a_rotated_source(tmp_path: Path) -> None:
    source = make_video(
        tmp_path / "r.mp4", seconds=1, width=320, height=180, rotation=90, audio=False
    )
    (keyframe,) = _keyframes(source)
    assert (keyframe.width, keyframe.height) == (180, 320)
    # The same picture FFmpeg shows (it turns the picture by the display matrix itself).
    shown = subprocess.run(
        [ffmpeg_path(), "-v", "error", "-i", str(source), "-vf", f"select=eq(n\\,{keyframe.frame})",
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    expected = np.frombuffer(shown, np.uint8).reshape(320, 180, 3).astype(int)
    assert np.abs(_decode(keyframe.image).astype(int) - expected).mean() < 8

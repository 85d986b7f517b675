"""Clip cutting: frame-exact re-encoded cuts and keyframe-aligned stream copies, checked by
counting and comparing decoded frames."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops, ImageStat

from v100.media import PLATFORM_SPECS, check_against, cut_clip, probe
from v100.media.clips import keyframe_at_or_before
from v100.media.testing import make_video


def _frames(path: Path) -> list[Image.Image]:
    with av.open(str(path)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def _closest(picture: Image.Image, frames: list[Image.Image]) -> int:
    def difference(other: Image.Image) -> float:
        return sum(ImageStat.Stat(ImageChops.difference(picture, other)).mean)

    return min(range(len(frames)), key=lambda i: difference(frames[i]))


async def test_accurate_cut_has_exactly_the_frames_asked_for(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", seconds=4, width=320, height=240, fps=25)
    info = await probe(source)
    clip = await cut_clip(source, tmp_path / "c.mp4", info, start=1.0, end=2.0, mode="accurate")
    assert (clip.start, clip.end) == (1.0, 2.0)
    frames = _frames(clip.path)
    assert len(frames) == 25
    original = _frames(source)
    assert _closest(frames[0], original) == 25
    assert _closest(frames[-1], original) == 49
    out = await probe(clip.path)
    assert out.audio is not None
    assert out.duration == pytest.approx(1.0, abs=0.05)


async def test_fast_cut_starts_at_the_keyframe_before(tmp_path: Path) -> None:
    # A keyframe every second: asking for 2.3 s starts at 2.0 s.
    source = make_video(tmp_path / "in.mp4", seconds=5, fps=25, keyframe_interval=25)
    info = await probe(source)
    assert keyframe_at_or_before(source, 2.3) == pytest.approx(2.0)
    assert keyframe_at_or_before(source, 2.0) == pytest.approx(2.0)
    assert keyframe_at_or_before(source, 0.5) == 0.0
    clip = await cut_clip(source, tmp_path / "c.mp4", info, start=2.3, end=4.0, mode="fast")
    assert clip.start == pytest.approx(2.0)
    assert clip.end == 4.0
    frames = _frames(clip.path)
    assert len(frames) == 50
    assert _closest(frames[0], _frames(source)) == 50
    out = await probe(clip.path)
    assert out.video is not None
    assert out.video.codec == "h264"


async def test_cut_for_a_platform_fits_its_frame_and_duration(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", seconds=4, width=640, height=360)
    info = await probe(source)
    spec = dataclasses.replace(PLATFORM_SPECS["instagram_reels"], max_duration=1.5, min_duration=1)
    clip = await cut_clip(
        source, tmp_path / "r.mp4", info, start=0.5, end=4.0, mode="accurate", spec=spec
    )
    # Cut a tenth of a second under the platform's maximum (see spec_duration).
    assert clip.end == pytest.approx(1.9)
    out = await probe(clip.path)
    assert out.video is not None
    assert out.video.width / out.video.height == pytest.approx(9 / 16, abs=0.01)
    assert out.duration == pytest.approx(1.4, abs=0.05)
    assert check_against(out, spec) == []


async def test_bad_ranges_and_fast_with_spec_are_refused(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", seconds=2)
    info = await probe(source)
    with pytest.raises(ValueError, match="empty"):
        await cut_clip(source, tmp_path / "c.mp4", info, start=1.5, end=1.0, mode="accurate")
    with pytest.raises(ValueError, match="empty"):
        await cut_clip(source, tmp_path / "c.mp4", info, start=5, end=6, mode="fast")
    with pytest.raises(ValueError, match="accurate"):
        await cut_clip(
            source,
            tmp_path / "c.mp4",
            info,
            start=0,
            end=1,
            mode="fast",
            spec=PLATFORM_SPECS["x"],
        )

"""Platform upload specs and the check clip rendering runs before publishing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from v100.media import (
    PLATFORM_SPECS,
    AudioStreamInfo,
    MediaInfo,
    VideoStreamInfo,
    check_against,
    encode_mp4,
    probe,
)
from v100.media.testing import make_video

_VIDEO = VideoStreamInfo(
    codec="h264",
    width=1080,
    height=1920,
    rotation=0,
    frame_rate=30.0,
    variable_frame_rate=False,
    pixel_format="yuv420p",
    bit_rate=6_000_000,
)
_AUDIO = AudioStreamInfo(codec="aac", sample_rate=48_000, channels=2, bit_rate=128_000)
_GOOD = MediaInfo(
    container="mov,mp4,m4a,3gp,3g2,mj2",
    duration=30.0,
    size=25_000_000,
    bit_rate=6_200_000,
    video=_VIDEO,
    audio=_AUDIO,
)


def test_all_five_platforms_are_described() -> None:
    assert set(PLATFORM_SPECS) == {"youtube", "tiktok", "instagram_reels", "linkedin", "x"}
    for name, spec in PLATFORM_SPECS.items():
        assert spec.name == name
        # What we render is itself acceptable to the platform.
        assert max(spec.width, spec.height) <= spec.max_long_side
        assert min(spec.width, spec.height) <= spec.max_short_side
        if spec.min_aspect is not None and spec.max_aspect is not None:
            assert spec.min_aspect <= spec.aspect <= spec.max_aspect
        if spec.max_video_bitrate is not None:
            assert spec.video_bitrate <= spec.max_video_bitrate
        assert "mp4" in spec.containers
        assert "h264" in spec.video_codecs
        assert "aac" in spec.audio_codecs


@pytest.mark.parametrize("name", ["youtube", "tiktok", "instagram_reels", "linkedin"])
def test_a_vertical_h264_clip_fits_the_vertical_friendly_platforms(name: str) -> None:
    assert check_against(_GOOD, PLATFORM_SPECS[name]) == []


def test_x_limits() -> None:
    problems = check_against(dataclasses.replace(_GOOD, duration=200.0), PLATFORM_SPECS["x"])
    assert any("duration 200.0 s is over 140 s" in p for p in problems)
    assert any("picture 1080x1920 is over 1280x1024" in p for p in problems)


def test_reels_refuses_webm_vp9_big_and_fast() -> None:
    info = dataclasses.replace(
        _GOOD,
        container="matroska,webm",
        size=2_000_000_000,
        video=dataclasses.replace(_VIDEO, codec="vp9", frame_rate=120.0, bit_rate=40_000_000),
        audio=dataclasses.replace(_AUDIO, codec="opus", channels=6),
    )
    problems = " | ".join(check_against(info, PLATFORM_SPECS["instagram_reels"]))
    for expected in (
        "container matroska,webm",
        "video codec vp9",
        "audio codec opus",
        "frame rate 120.00 is over 60",
        "video bitrate 40,000,000",
        "file size 2,000,000,000",
        "6 audio channels",
    ):
        assert expected in problems


def test_aspect_and_minimums() -> None:
    wide = dataclasses.replace(_GOOD, video=dataclasses.replace(_VIDEO, width=3000, height=1000))
    assert any("wider" in p for p in check_against(wide, PLATFORM_SPECS["linkedin"]))
    short = dataclasses.replace(_GOOD, duration=1.0)
    assert any("under 3 s" in p for p in check_against(short, PLATFORM_SPECS["instagram_reels"]))
    silent_picture_missing = dataclasses.replace(_GOOD, video=None)
    assert "there is no video stream" in check_against(silent_picture_missing, PLATFORM_SPECS["x"])


@pytest.mark.parametrize("name", sorted(PLATFORM_SPECS))
async def test_encoding_for_a_platform_passes_its_check(tmp_path: Path, name: str) -> None:
    spec = PLATFORM_SPECS[name]
    source = make_video(tmp_path / "in.webm", seconds=4, width=640, height=360, fps=30)
    out = await encode_mp4(source, tmp_path / "o.mp4", await probe(source), spec=spec)
    assert check_against(await probe(out), spec) == []

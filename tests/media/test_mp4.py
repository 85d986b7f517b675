"""Downloadable MP4s and M4As from real lavfi files: codecs, upright pictures, constant frame
rate, faststart, browser WebM recordings, platform specs, progress."""

from __future__ import annotations

from pathlib import Path

import pytest

from v100.media import (
    PLATFORM_SPECS,
    Progress,
    UnsupportedMedia,
    encode_mp4,
    extract_audio,
    probe,
)
from v100.media.testing import make_audio, make_video


def _moov_before_mdat(path: Path) -> bool:
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")


async def test_h264_aac_faststart_without_metadata(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mkv", seconds=2, width=320, height=240)
    seen: list[Progress] = []
    out = await encode_mp4(
        source, tmp_path / "out.mp4", await probe(source), on_progress=seen.append
    )
    info = await probe(out)
    assert info.video is not None
    assert info.audio is not None
    assert (info.video.codec, info.video.pixel_format) == ("h264", "yuv420p")
    assert (info.video.width, info.video.height) == (320, 240)
    assert info.audio.codec == "aac"
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert _moov_before_mdat(out)
    assert seen[-1].done
    assert seen[-1].percent == 100.0


@pytest.mark.parametrize("rotation", [90, 270])
async def test_rotation_is_applied_to_the_pixels(tmp_path: Path, rotation: int) -> None:
    source = make_video(tmp_path / "r.mp4", width=320, height=240, rotation=rotation)
    out = await encode_mp4(source, tmp_path / "out.mp4", await probe(source))
    info = await probe(out)
    assert info.video is not None
    assert info.video.rotation == 0
    assert (info.video.width, info.video.height) == (240, 320)


async def test_variable_frame_rate_becomes_constant(tmp_path: Path) -> None:
    source = make_video(tmp_path / "v.mp4", seconds=3, variable_frame_rate=True)
    source_info = await probe(source)
    assert source_info.video is not None
    assert source_info.video.variable_frame_rate
    info = await probe(await encode_mp4(source, tmp_path / "out.mp4", source_info))
    assert info.video is not None
    assert not info.video.variable_frame_rate
    assert info.duration == pytest.approx(3.0, abs=0.15)


async def test_odd_sizes_become_even_and_max_height_shrinks(tmp_path: Path) -> None:
    source = make_video(tmp_path / "odd.mp4", width=321, height=241, audio=False)
    odd = await probe(await encode_mp4(source, tmp_path / "a.mp4", await probe(source)))
    assert odd.video is not None
    assert odd.video.width % 2 == 0
    assert odd.video.height % 2 == 0
    assert odd.audio is None
    small = await probe(
        await encode_mp4(source, tmp_path / "b.mp4", await probe(source), max_height=120)
    )
    assert small.video is not None
    assert (small.video.width, small.video.height) == (160, 120)


async def test_never_upscales(tmp_path: Path) -> None:
    source = make_video(tmp_path / "s.mp4", width=160, height=120, audio=False)
    info = await probe(
        await encode_mp4(source, tmp_path / "o.mp4", await probe(source), max_height=720)
    )
    assert info.video is not None
    assert (info.video.width, info.video.height) == (160, 120)


async def test_browser_webm_recording_becomes_mp4(tmp_path: Path) -> None:
    # VP9 + Opus in WebM with no duration in the header, as MediaRecorder writes it.
    source = make_video(tmp_path / "rec.webm", seconds=3, width=320, height=240)
    source_info = await probe(source)
    assert source_info.video is not None
    assert source_info.video.codec == "vp9"
    out = await encode_mp4(source, tmp_path / "rec.mp4", source_info)
    info = await probe(out)
    assert info.container.startswith("mov,mp4")
    assert info.video is not None
    assert info.audio is not None
    assert (info.video.codec, info.audio.codec) == ("h264", "aac")
    assert info.duration == pytest.approx(3.0, abs=0.15)


async def test_audio_only_source_gives_an_audio_only_mp4(tmp_path: Path) -> None:
    source = make_audio(tmp_path / "a.wav", seconds=1.5)
    info = await probe(await encode_mp4(source, tmp_path / "a.mp4", await probe(source)))
    assert info.video is None
    assert info.audio is not None
    assert info.audio.codec == "aac"
    assert info.duration == pytest.approx(1.5, abs=0.1)


async def test_platform_spec_crops_to_its_frame_and_cuts_its_duration(tmp_path: Path) -> None:
    source = make_video(tmp_path / "wide.mp4", seconds=2, width=640, height=360)
    spec = PLATFORM_SPECS["tiktok"]
    info = await probe(await encode_mp4(source, tmp_path / "t.mp4", await probe(source), spec=spec))
    assert info.video is not None
    # 9:16 centre crop of a 640x360 picture (202x360), grown to TikTok's 360 px minimum side.
    assert info.video.width == 360
    assert info.video.width / info.video.height == pytest.approx(9 / 16, abs=0.01)
    padded = await probe(
        await encode_mp4(
            source, tmp_path / "p.mp4", await probe(source), spec=PLATFORM_SPECS["x"], fit="pad"
        )
    )
    assert padded.video is not None
    assert (padded.video.width, padded.video.height) == (1280, 720)


async def test_extract_audio_copies_aac_and_encodes_the_rest(tmp_path: Path) -> None:
    mp4 = make_video(tmp_path / "v.mp4", seconds=2)
    copied = await probe(await extract_audio(mp4, tmp_path / "a.m4a", await probe(mp4)))
    assert copied.video is None
    assert copied.audio is not None
    assert copied.audio.codec == "aac"
    assert copied.duration == pytest.approx(2.0, abs=0.1)
    webm = make_video(tmp_path / "v.webm", seconds=2)
    seen: list[Progress] = []
    encoded = await probe(
        await extract_audio(webm, tmp_path / "b.m4a", await probe(webm), on_progress=seen.append)
    )
    assert encoded.audio is not None
    assert encoded.audio.codec == "aac"
    assert encoded.container.startswith("mov,mp4")
    assert seen[-1].percent == 100.0


async def test_extract_audio_from_a_silent_video_is_refused(tmp_path: Path) -> None:
    source = make_video(tmp_path / "mute.mp4", audio=False)
    with pytest.raises(UnsupportedMedia, match="no audio"):
        await extract_audio(source, tmp_path / "a.m4a", await probe(source))

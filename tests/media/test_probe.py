"""Probing real files made by FFmpeg, and the broken ones users send."""

from __future__ import annotations

from pathlib import Path

import pytest

from v100.media import CorruptMedia, EmptyMedia, UnsupportedMedia, probe
from v100.media.testing import make_audio, make_video


async def test_reads_an_mp4s_streams(tmp_path: Path) -> None:
    source = make_video(tmp_path / "a.mp4", seconds=2, width=320, height=240, fps=25)
    info = await probe(source)
    assert info.container.startswith("mov,mp4")
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert info.size == source.stat().st_size
    assert info.video is not None
    assert info.audio is not None
    assert (info.video.codec, info.video.width, info.video.height) == ("h264", 320, 240)
    assert info.video.frame_rate == pytest.approx(25)
    assert info.video.rotation == 0
    assert not info.video.variable_frame_rate
    assert info.audio.codec == "aac"
    assert info.audio.sample_rate > 0
    assert info.audio.channels >= 1


@pytest.mark.parametrize("rotation", [90, 180, 270])
async def test_reports_the_clockwise_turn_players_apply(tmp_path: Path, rotation: int) -> None:
    source = make_video(tmp_path / "r.mp4", width=320, height=240, rotation=rotation)
    info = await probe(source)
    assert info.video is not None
    assert info.video.rotation == rotation
    turned = rotation in (90, 270)
    assert (info.video.display_width, info.video.display_height) == (
        (240, 320) if turned else (320, 240)
    )


async def test_detects_variable_frame_rate(tmp_path: Path) -> None:
    info = await probe(make_video(tmp_path / "v.mp4", seconds=2, variable_frame_rate=True))
    assert info.video is not None
    assert info.video.variable_frame_rate


async def test_webm_without_duration_in_header(tmp_path: Path) -> None:
    info = await probe(make_video(tmp_path / "a.webm", seconds=2))
    assert info.container.startswith("matroska")
    assert info.duration == pytest.approx(2.0, abs=0.15)
    assert info.video is not None
    assert info.video.codec == "vp9"


async def test_audio_only(tmp_path: Path) -> None:
    info = await probe(make_audio(tmp_path / "a.wav", seconds=1.5))
    assert info.video is None
    assert info.audio is not None
    assert info.audio.codec.startswith("pcm")
    assert info.duration == pytest.approx(1.5, abs=0.05)


async def test_zero_length(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(EmptyMedia):
        await probe(empty)


async def test_not_media(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_bytes(b"hello, this is not a video\n" * 100)
    with pytest.raises(UnsupportedMedia):
        await probe(text)


async def test_truncated_mp4_without_its_index(tmp_path: Path) -> None:
    source = make_video(tmp_path / "a.mp4", seconds=2)
    data = source.read_bytes()
    # FFmpeg writes the moov atom last: cutting the tail loses the index.
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises((UnsupportedMedia, CorruptMedia)):
        await probe(truncated)


async def test_a_playlist_naming_local_files_is_refused(tmp_path: Path) -> None:
    playlist = tmp_path / "evil.m3u8"
    playlist.write_text("#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n")
    with pytest.raises(UnsupportedMedia):
        await probe(playlist)

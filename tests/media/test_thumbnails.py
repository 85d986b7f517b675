"""Posters picked frame-accurately and storyboards whose WebVTT cues cover the whole video."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops, ImageStat

from v100.media import UnsupportedMedia, poster, probe, storyboard
from v100.media.testing import make_audio, make_video


def _frames(path: Path) -> list[Image.Image]:
    with av.open(str(path)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def _difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean)


def _closest_frame(picture: Image.Image, frames: list[Image.Image]) -> int:
    return min(range(len(frames)), key=lambda i: _difference(picture, frames[i]))


async def test_poster_is_the_frame_at_the_requested_time(tmp_path: Path) -> None:
    # One keyframe for the whole file: the seek must decode forward to the exact frame.
    source = make_video(tmp_path / "in.mp4", seconds=8, width=320, height=240, fps=25)
    out = await poster(source, tmp_path / "p.jpg", await probe(source), at=5.0)
    picture = Image.open(out)
    assert picture.format == "JPEG"
    assert picture.size == (320, 240)
    assert _closest_frame(picture, _frames(source)) == 125


async def test_short_video_takes_its_middle_frame(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", seconds=2, width=320, height=240, fps=25)
    out = await poster(source, tmp_path / "p.jpg", await probe(source))
    assert _closest_frame(Image.open(out), _frames(source)) == 25


async def test_poster_time_is_clamped_and_width_shrinks(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", seconds=6, width=320, height=240, rotation=90)
    out = await poster(source, tmp_path / "p.jpg", await probe(source), at=60.0, width=120)
    picture = Image.open(out)
    # Rotated 90 degrees: portrait, 120 wide.
    assert picture.size == (120, 160)


async def test_poster_of_audio_is_refused(tmp_path: Path) -> None:
    source = make_audio(tmp_path / "a.wav")
    with pytest.raises(UnsupportedMedia, match="no video"):
        await poster(source, tmp_path / "p.jpg", await probe(source))


def _cues(vtt: Path) -> list[tuple[float, float, str]]:
    text = vtt.read_text()
    assert text.startswith("WEBVTT")
    cues = []
    for match in re.finditer(r"(\S+) --> (\S+)\n(\S+)", text):
        cues.append((_seconds(match[1]), _seconds(match[2]), match[3]))
    return cues


def _seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


async def test_storyboard_covers_the_whole_duration(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", seconds=9.5, width=320, height=180, audio=False)
    info = await probe(source)
    board = await storyboard(source, tmp_path / "sb", info, interval=1.0, columns=4)
    assert board.tiles == 10
    assert [s.name for s in board.sprites] == ["sprite.jpg"]
    sheet = Image.open(board.sprites[0])
    assert sheet.size == (4 * 160, 3 * 90)
    cues = _cues(board.vtt)
    assert len(cues) == 10
    assert cues[0][0] == 0.0
    assert cues[-1][1] == pytest.approx(info.duration, abs=0.001)
    for (_, end, _), (start, _, _) in itertools.pairwise(cues):
        assert end == start
    assert cues[5][2] == "sprite.jpg#xywh=160,90,160,90"
    # The last tile holds a picture, not the tile filter's blank padding.
    last = sheet.crop((160, 180, 320, 270))
    blank = sheet.crop((480, 180, 640, 270))
    assert ImageStat.Stat(last).stddev[0] > ImageStat.Stat(blank).stddev[0] + 5


async def test_storyboard_interval_keeps_one_bounded_sheet(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", seconds=4, width=160, height=120, audio=False)
    info = await probe(source)
    board = await storyboard(source, tmp_path / "sb", info)
    assert board.interval == 1.0
    assert board.tiles == 4
    assert board.tile_height == 120
    # Chosen for a long video: at most 100 tiles.
    from v100.media.thumbnails import storyboard_interval

    assert storyboard_interval(3600) == 60.0
    assert storyboard_interval(7200) == 120.0
    assert storyboard_interval(95) == 1.0


async def test_storyboard_spreads_over_several_sheets(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", seconds=5, width=160, height=120, audio=False)
    info = await probe(source)
    board = await storyboard(source, tmp_path / "sb", info, interval=0.5, max_tiles=4, columns=2)
    assert board.tiles == 10
    assert [s.name for s in board.sprites] == ["sprite-0.jpg", "sprite-1.jpg", "sprite-2.jpg"]
    cues = _cues(board.vtt)
    assert cues[4][2] == "sprite-1.jpg#xywh=0,0,160,120"
    assert cues[9][2] == "sprite-2.jpg#xywh=160,0,160,120"


async def test_poster_of_a_browser_recording(tmp_path: Path) -> None:
    # VP9 WebM without a duration header or cues, as MediaRecorder writes it.
    source = make_video(tmp_path / "rec.webm", seconds=7, width=320, height=240, fps=25)
    out = await poster(source, tmp_path / "p.jpg", await probe(source))
    assert _closest_frame(Image.open(out), _frames(source)) == 125


async def test_poster_of_a_recording_whose_picture_ends_before_its_sound(tmp_path: Path) -> None:
    """A browser recording's video track may stop before its audio: the seek to 5 s finds no
    picture (FFmpeg 7 fails rather than writing nothing) and the poster falls back to an
    earlier frame."""
    source = make_video(tmp_path / "rec.webm", seconds=6, picture_until=1.5, live=True)
    info = await probe(source)
    assert info.duration > 5
    out = await poster(source, tmp_path / "p.jpg", info)
    with Image.open(out) as image:
        assert image.size == (320, 240)

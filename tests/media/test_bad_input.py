"""The files users really upload (issue 5): each ends as a clear MediaError, quickly, whatever
operation meets it first; none hangs or crashes the worker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from v100.media import (
    CorruptMedia,
    EmptyMedia,
    FFmpegTimedOut,
    MediaError,
    MediaTooLarge,
    UnsupportedMedia,
    cut_clip,
    encode_hls,
    encode_mp4,
    plan_ladder,
    poster,
    probe,
    storyboard,
)
from v100.media._encoding import run_timeout
from v100.media.testing import make_audio, make_broken, make_video


async def _pipeline(source: Path, work: Path) -> None:
    """What a processing job does with an upload, in order."""
    info = await probe(source)
    await encode_mp4(source, work / "out.mp4", info)
    await poster(source, work / "poster.jpg", info)
    await encode_hls(source, work / "hls", info, plan_ladder(info))


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("empty", EmptyMedia),
        ("not_media", UnsupportedMedia),
        ("truncated", (UnsupportedMedia, CorruptMedia)),
        ("corrupt_header", (UnsupportedMedia, CorruptMedia)),
        ("truncated_faststart", CorruptMedia),
        ("huge", MediaTooLarge),
    ],
)
async def test_each_bad_file_ends_as_a_clear_error(
    tmp_path: Path, kind: str, error: type[MediaError] | tuple[type[MediaError], ...]
) -> None:
    source = make_broken(tmp_path / f"{kind}.mp4", kind)
    started = time.monotonic()
    with pytest.raises(error) as raised:
        await _pipeline(source, tmp_path)
    assert raised.value.reason
    assert time.monotonic() - started < 30


async def test_truncated_upload_reports_what_is_missing(tmp_path: Path) -> None:
    source = make_broken(tmp_path / "cut.mp4", "truncated_faststart")
    info = await probe(source)
    with pytest.raises(CorruptMedia, match="ends early"):
        await encode_mp4(source, tmp_path / "o.mp4", info)
    with pytest.raises(CorruptMedia, match="ends early"):
        await encode_hls(source, tmp_path / "hls", info, plan_ladder(info))


async def test_damage_in_the_middle_is_concealed_or_refused(tmp_path: Path) -> None:
    # Decoders conceal a damaged run of bytes inside the picture data; what must never happen
    # is a hang or an error that is not a MediaError.
    source = make_broken(tmp_path / "mid.mp4", "corrupt_middle")
    refused: MediaError | None = None
    try:
        await asyncio.wait_for(_pipeline(source, tmp_path), timeout=60)
    except MediaError as error:
        refused = error
    assert refused is None or refused.reason


async def test_huge_picture_is_refused_before_any_decoding(tmp_path: Path) -> None:
    source = make_broken(tmp_path / "huge.mp4", "huge")
    info = await probe(source)
    assert info.video is not None
    assert (info.video.width, info.video.height) == (8192, 8192)
    for operation in (
        encode_mp4(source, tmp_path / "o.mp4", info),
        poster(source, tmp_path / "p.jpg", info),
        storyboard(source, tmp_path / "sb", info),
        cut_clip(source, tmp_path / "c.mp4", info, start=0, end=1, mode="accurate"),
        encode_hls(source, tmp_path / "hls", info, plan_ladder(info)),
    ):
        with pytest.raises(MediaTooLarge, match="8192x8192"):
            await operation
    assert not (tmp_path / "o.mp4").exists()


async def test_the_pixel_limit_is_configurable(tmp_path: Path) -> None:
    source = make_video(tmp_path / "v.mp4", width=320, height=240)
    info = await probe(source)
    with pytest.raises(MediaTooLarge):
        await encode_mp4(source, tmp_path / "o.mp4", info, max_pixels=320 * 240 - 1)
    await encode_mp4(source, tmp_path / "o.mp4", info, max_pixels=320 * 240)


async def test_audio_only_where_a_picture_is_needed(tmp_path: Path) -> None:
    source = make_audio(tmp_path / "a.m4a", seconds=1)
    info = await probe(source)
    for operation in (
        poster(source, tmp_path / "p.jpg", info),
        storyboard(source, tmp_path / "sb", info),
    ):
        with pytest.raises(UnsupportedMedia, match="no video"):
            await operation
    with pytest.raises(UnsupportedMedia, match="no video"):
        plan_ladder(info)


async def test_every_run_is_bounded(tmp_path: Path) -> None:
    source = make_video(tmp_path / "v.mp4", seconds=2)
    info = await probe(source)
    with pytest.raises(FFmpegTimedOut):
        await encode_mp4(source, tmp_path / "o.mp4", info, timeout=0.01)
    # The default bound grows with the duration and never vanishes.
    assert run_timeout(0) > 0
    assert run_timeout(3600) > run_timeout(60) > run_timeout(0)

"""Auto-trim of leading and trailing dead air on real files with known silence and black."""

from __future__ import annotations

from pathlib import Path

import pytest

from v100.media import detect_trim, probe
from v100.media.testing import make_audio, make_video


async def test_audio_leading_and_trailing_silence(tmp_path: Path) -> None:
    source = make_audio(tmp_path / "a.wav", seconds=2, silence_before=1.0, silence_after=1.5)
    info = await probe(source)
    trim = await detect_trim(source, info)
    assert trim.start == pytest.approx(1.0, abs=0.05)
    assert trim.end == pytest.approx(3.0, abs=0.05)


async def test_video_trims_only_where_silent_and_black(tmp_path: Path) -> None:
    # Black 0-1 s and 5-6 s; silent 0-1.5 s and 4-6 s: both dead only over 0-1 and 5-6.
    source = make_video(
        tmp_path / "v.mp4",
        seconds=6,
        black_before=1.0,
        black_after=1.0,
        silence_before=1.5,
        silence_after=2.0,
    )
    trim = await detect_trim(source, await probe(source))
    assert trim.start == pytest.approx(1.0, abs=0.05)
    assert trim.end == pytest.approx(5.0, abs=0.05)


async def test_a_range_judged_on_its_silences_alone(tmp_path: Path) -> None:
    # Silent 0-1.5 s and 4-6 s, the picture never black: a clip's range 0.5-5.5 s keeps
    # 1.5-4 s when the picture is left out of it, and all of it when the picture counts.
    source = make_video(tmp_path / "v.mp4", seconds=6, silence_before=1.5, silence_after=2.0)
    info = await probe(source)
    trim = await detect_trim(source, info, start=0.5, end=5.5, picture=False)
    assert trim.start == pytest.approx(1.5, abs=0.05)
    assert trim.end == pytest.approx(4.0, abs=0.05)
    kept = await detect_trim(source, info, start=0.5, end=5.5)
    assert (kept.start, kept.end) == (0.5, 5.5)
    with pytest.raises(ValueError, match="empty"):
        await detect_trim(source, info, start=3.0, end=2.0)


async def test_black_picture_with_sound_is_kept(tmp_path: Path) -> None:
    source = make_video(tmp_path / "v.mp4", seconds=4, black_before=1.0, black_after=1.0)
    info = await probe(source)
    trim = await detect_trim(source, info)
    assert (trim.start, trim.end) == (0.0, info.duration)


async def test_silent_video_trims_on_black_alone(tmp_path: Path) -> None:
    source = make_video(
        tmp_path / "v.mp4", seconds=4, audio=False, black_before=1.0, black_after=0.8
    )
    trim = await detect_trim(source, await probe(source))
    assert trim.start == pytest.approx(1.0, abs=0.05)
    assert trim.end == pytest.approx(3.2, abs=0.05)


async def test_nothing_to_trim_and_all_dead(tmp_path: Path) -> None:
    lively = make_audio(tmp_path / "l.wav", seconds=2)
    info = await probe(lively)
    trim = await detect_trim(lively, info)
    assert (trim.start, trim.end) == (0.0, info.duration)
    dead = make_video(tmp_path / "d.mp4", seconds=2, audio=False, picture="color=black")
    dead_info = await probe(dead)
    trim = await detect_trim(dead, dead_info)
    assert (trim.start, trim.end) == (0.0, dead_info.duration)


async def test_thresholds_are_honoured(tmp_path: Path) -> None:
    # A 0.3 s leading silence is shorter than the default 0.5 s minimum.
    short = make_audio(tmp_path / "s.wav", seconds=2, silence_before=0.3)
    info = await probe(short)
    assert (await detect_trim(short, info)).start == 0.0
    assert (await detect_trim(short, info, min_silence=0.2)).start == pytest.approx(0.3, abs=0.05)

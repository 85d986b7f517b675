"""EBU R128 two-pass normalization, checked by a third, independent measurement."""

from __future__ import annotations

from pathlib import Path

import pytest

from v100.media import (
    Progress,
    UnsupportedMedia,
    measure_loudness,
    normalize_loudness,
    probe,
)
from v100.media.testing import make_audio, make_video


async def test_measures_a_quiet_tone(tmp_path: Path) -> None:
    quiet = make_audio(tmp_path / "quiet.wav", seconds=4, volume_db=-30)
    loud = make_audio(tmp_path / "loud.wav", seconds=4, volume_db=-10)
    q = await measure_loudness(quiet)
    lo = await measure_loudness(loud)
    assert q.integrated < -30
    assert lo.integrated == pytest.approx(q.integrated + 20, abs=0.5)
    assert q.true_peak < lo.true_peak


@pytest.mark.parametrize("suffix", [".m4a", ".wav"])
async def test_quiet_tone_ends_within_one_lu_of_the_target(tmp_path: Path, suffix: str) -> None:
    quiet = make_audio(tmp_path / "quiet.wav", seconds=6, volume_db=-32)
    info = await probe(quiet)
    seen: list[Progress] = []
    out = await normalize_loudness(quiet, tmp_path / f"out{suffix}", info, on_progress=seen.append)
    # Both passes in one 0..100 progress: measuring is the first half.
    percents = [p.percent for p in seen if p.percent is not None]
    assert percents == sorted(percents)
    assert 50.0 in percents
    assert seen[-1].percent == 100.0
    assert [p.done for p in seen].count(True) == 1
    after = await measure_loudness(out)
    assert after.integrated == pytest.approx(-16.0, abs=1.0)
    assert after.true_peak <= -1.5 + 0.5
    out_info = await probe(out)
    assert out_info.duration == pytest.approx(6.0, abs=0.1)
    assert out_info.audio is not None
    assert out_info.audio.sample_rate == 48_000


async def test_other_targets_and_video_kept(tmp_path: Path) -> None:
    source = make_video(tmp_path / "v.mp4", seconds=4, width=160, height=120)
    info = await probe(source)
    out = await normalize_loudness(source, tmp_path / "n.mp4", info, target_i=-23.0)
    after = await measure_loudness(out)
    assert after.integrated == pytest.approx(-23.0, abs=1.0)
    out_info = await probe(out)
    assert out_info.video is not None
    assert out_info.video.codec == "h264"


async def test_silence_and_missing_audio_are_refused(tmp_path: Path) -> None:
    silent = make_audio(tmp_path / "s.wav", seconds=2, volume_db=-200)
    with pytest.raises(UnsupportedMedia, match="silent"):
        await normalize_loudness(silent, tmp_path / "o.m4a", await probe(silent))
    mute = make_video(tmp_path / "m.mp4", audio=False)
    with pytest.raises(UnsupportedMedia, match="no audio"):
        await measure_loudness(mute)

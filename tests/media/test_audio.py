"""Audio resampling: rate, channels and length of the output, and the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from v100.media import UnsupportedMedia, probe
from v100.media.audio import resample_audio
from v100.media.testing import make_audio, make_video


@pytest.mark.parametrize(
    ("suffix", "rate", "channels", "codec"),
    [(".wav", 16_000, 1, "pcm_s16le"), (".flac", 32_000, 2, "flac"), (".m4a", 22_050, 1, "aac"),
     (".opus", 24_000, 1, "opus")],
)  # fmt: skip
async def test_resamples_to_rate_and_channels(
    tmp_path: Path, suffix: str, rate: int, channels: int, codec: str
) -> None:
    src = make_video(tmp_path / "src.mp4", seconds=3, width=160, height=120)
    info = await probe(src)
    assert info.audio is not None
    assert info.audio.sample_rate != rate
    out = await resample_audio(
        src, tmp_path / f"out{suffix}", info, sample_rate=rate, channels=channels
    )
    result = await probe(out)
    assert result.video is None
    assert result.audio is not None
    assert result.audio.codec == codec
    assert result.audio.channels == channels
    # Opus always decodes at 48 kHz; the Ogg header keeps the input rate we asked for.
    if codec != "opus":
        assert result.audio.sample_rate == rate
    assert result.duration == pytest.approx(3.0, abs=0.1)


async def test_keeps_channels_when_not_asked(tmp_path: Path) -> None:
    src = make_audio(tmp_path / "tone.wav", seconds=2)
    info = await probe(src)
    out = await resample_audio(src, tmp_path / "out.wav", info, sample_rate=8_000)
    result = await probe(out)
    assert result.audio is not None
    assert info.audio is not None
    assert (result.audio.sample_rate, result.audio.channels) == (8_000, info.audio.channels)


async def test_refuses_a_file_without_audio(tmp_path: Path) -> None:
    src = make_video(tmp_path / "silent.mp4", seconds=1, audio=False)
    with pytest.raises(UnsupportedMedia):
        await resample_audio(src, tmp_path / "out.wav", await probe(src), sample_rate=16_000)


@pytest.mark.parametrize(
    ("name", "rate", "channels"),
    [("out.opus", 44_100, None), ("out.wav", 4_000, None), ("out.wav", 16_000, 9),
     ("out.mp3", 16_000, None)],
)  # fmt: skip
async def test_refuses_what_the_output_cannot_carry(
    tmp_path: Path, name: str, rate: int, channels: int | None
) -> None:
    src = make_audio(tmp_path / "tone.wav", seconds=1)
    with pytest.raises(ValueError, match=r"format|sample rate|Opus|channels"):
        await resample_audio(
            src, tmp_path / name, await probe(src), sample_rate=rate, channels=channels
        )

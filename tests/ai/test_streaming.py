"""The local streaming engine on espeak-ng speech from known text, fed in 100 ms chunks: speech
started, interim results while an utterance goes on, a final result (``is_final`` and
``speech_final``) with the right words at their times in the stream once the speaker pauses,
``UtteranceEnd`` after the gap; silence saying nothing; ``Finalize`` and closing flushing an
utterance that never paused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from v100.ai.asr import (
    LiveEvent,
    LiveResult,
    LiveSession,
    LiveSpeechStarted,
    LiveUtteranceEnd,
    LocalLiveSession,
    LocalWhisper,
    StreamingOptions,
)
from v100.ai.audio import SAMPLE_RATE
from v100.ai.testing import Utterance, make_utterances, word_error_rate

pytestmark = pytest.mark.slow

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "We meet every morning to plan the work of the day.",
]
CHUNK = SAMPLE_RATE // 10


@pytest.fixture(scope="module")
def dialogue(speech_dir: Path) -> tuple[np.ndarray, list[Utterance]]:
    return make_utterances(speech_dir / "dialogue", TEXTS, pause=1.5)


async def _stream(
    session: LocalLiveSession, pcm: np.ndarray, *, pace: float | None = 1.0
) -> list[tuple[float, LiveEvent]]:
    """Feed ``pcm`` at ``pace`` times real time (None: as fast as it takes it), close, and
    return every event with the stream time (seconds of audio sent) when it came."""
    events: list[tuple[float, LiveEvent]] = []
    sent = 0

    async def read() -> None:
        async for event in session.events():
            events.append((sent / SAMPLE_RATE, event))

    reader = asyncio.create_task(read())
    for start in range(0, pcm.size, CHUNK):
        chunk = pcm[start : start + CHUNK]
        await session.send_audio(chunk)
        sent += chunk.size
        if pace is not None:
            await asyncio.sleep(chunk.size / SAMPLE_RATE / pace)
    await session.close()
    await reader
    return events


def _results(events: list[tuple[float, LiveEvent]]) -> list[LiveResult]:
    return [event for _, event in events if isinstance(event, LiveResult)]


async def test_speech_in_real_time_gives_interim_then_final_results_with_the_words(
    whisper: LocalWhisper, dialogue: tuple[np.ndarray, list[Utterance]]
) -> None:
    pcm, spoken = dialogue
    await whisper.load_async()  # loading (seconds on a busy machine) would hold interims back
    async with LocalLiveSession(whisper, StreamingOptions(language="en")) as session:
        assert isinstance(session, LiveSession)
        events = await _stream(session, pcm)

    kinds = [type(event).__name__ for _, event in events]
    assert kinds[0] == "LiveSpeechStarted", kinds
    started = [e for _, e in events if isinstance(e, LiveSpeechStarted)]
    assert started[0].timestamp == pytest.approx(spoken[0].start, abs=0.3)
    finals = [r for r in _results(events) if r.is_final]
    assert len(finals) == 2, finals
    for result, utterance in zip(finals, spoken, strict=True):
        assert result.speech_final, result
        assert word_error_rate(utterance.text, result.transcript) <= 0.25, result.transcript
        # Word times are on the stream, inside the utterance's sound.
        starts = [word.start for word in result.words]
        assert starts == sorted(starts)
        assert result.words[0].start == pytest.approx(utterance.start, abs=0.4)
        assert result.words[-1].end == pytest.approx(utterance.end, abs=0.4)
        assert 0.0 < result.confidence <= 1.0
        assert result.start <= result.words[0].start
        assert result.words[-1].end <= result.start + result.duration
    # The finals' spans follow each other with no gap.
    assert finals[0].start == 0.0
    assert finals[1].start == pytest.approx(finals[0].start + finals[0].duration)

    # An interim result of the first utterance came before its final one, with words.
    first_final = next(i for i, (_, e) in enumerate(events) if e is finals[0])
    interims = [e for _, e in events[:first_final] if isinstance(e, LiveResult)]
    assert interims
    assert not any(r.is_final for r in interims)
    assert any(r.words for r in interims)

    # UtteranceEnd after each final, naming its last word.
    ends = [(i, e) for i, (_, e) in enumerate(events) if isinstance(e, LiveUtteranceEnd)]
    assert [e.last_word_end for _, e in ends] == [r.words[-1].end for r in finals]
    assert ends[0][0] > first_final
    assert session.transcript() == f"{finals[0].transcript} {finals[1].transcript}"
    assert session.language == "en"


async def test_without_interim_results_only_finals_come(
    whisper: LocalWhisper, dialogue: tuple[np.ndarray, list[Utterance]]
) -> None:
    pcm, _spoken = dialogue
    options = StreamingOptions(interim_results=False, vad_events=False, utterance_end_ms=None)
    async with LocalLiveSession(whisper, options) as session:
        events = await _stream(session, pcm, pace=None)
    results = _results(events)
    assert [e for _, e in events if not isinstance(e, LiveResult)] == []
    assert [(r.is_final, r.speech_final) for r in results] == [(True, True), (True, True)]
    assert word_error_rate(" ".join(TEXTS), session.transcript()) <= 0.2
    assert session.language == "en"  # detected on the first utterance
    assert session.language_probability is not None


async def test_silence_says_nothing_and_finalize_flushes_an_open_utterance(
    whisper: LocalWhisper, dialogue: tuple[np.ndarray, list[Utterance]]
) -> None:
    pcm, spoken = dialogue
    silence = np.zeros(2 * SAMPLE_RATE, dtype=np.float32)
    # The first utterance cut short, 1.4 s into its sound: the speaker has not paused.
    open_speech = pcm[: round((spoken[0].start + 1.4) * SAMPLE_RATE)]
    async with LocalLiveSession(whisper, StreamingOptions(language="en")) as session:
        await session.send_audio(silence)
        await session.finalize()  # nothing open: an empty final result says so
        await session.send_audio(open_speech)
        await session.finalize()
        await session.close()
    results = [event async for event in session.events() if isinstance(event, LiveResult)]
    assert [(r.is_final, r.from_finalize, r.transcript) for r in results[:1]] == [(True, True, "")]
    assert results[0].duration == pytest.approx(2.0, abs=0.05)
    flushed = [r for r in results if r.is_final and r.words]
    assert len(flushed) == 1
    assert flushed[0].from_finalize
    assert not flushed[0].speech_final
    assert flushed[0].transcript.lower().startswith("the quick")


async def test_closing_flushes_speech_that_never_paused(
    whisper: LocalWhisper, dialogue: tuple[np.ndarray, list[Utterance]]
) -> None:
    pcm, spoken = dialogue
    cut = pcm[: round(spoken[0].end * SAMPLE_RATE)]  # ends on the last word's sound
    async with LocalLiveSession(whisper, StreamingOptions(language="en")) as session:
        await session.send_audio(cut)
    results = [e async for e in session.events() if isinstance(e, LiveResult) and e.is_final]
    assert len(results) == 1
    assert not results[0].speech_final
    assert not results[0].from_finalize
    assert word_error_rate(TEXTS[0], results[0].transcript) <= 0.25


async def test_an_utterance_longer_than_the_limit_is_cut_at_a_quiet_point(
    whisper: LocalWhisper, dialogue: tuple[np.ndarray, list[Utterance]]
) -> None:
    pcm, spoken = dialogue
    first = pcm[: round((spoken[0].end + 1.0) * SAMPLE_RATE)]  # about 3 s of speech, a pause
    options = StreamingOptions(language="en", interim_results=False, max_utterance=2.5)
    async with LocalLiveSession(whisper, options) as session:
        await session.send_audio(first)  # at once: audio runs ahead of the decoding
    events = [event async for event in session.events()]
    finals = [e for e in events if isinstance(e, LiveResult) and e.words]
    assert len(finals) == 2, [r.transcript for r in finals]
    assert [r.speech_final for r in finals] == [False, True]
    assert finals[1].start == pytest.approx(finals[0].start + finals[0].duration)
    assert finals[0].start + finals[0].duration <= spoken[0].start + 2.6
    assert word_error_rate(TEXTS[0], session.transcript()) <= 0.3, session.transcript()
    # The speech went on after the cut: one UtteranceEnd, after the last word.
    ends = [e for e in events if isinstance(e, LiveUtteranceEnd)]
    assert [e.last_word_end for e in ends] == [finals[1].words[-1].end]

"""Every word gets a start and an end: a word the aligner gave no usable time (whisperX#559's
numbers) carries its segment's timing and says so. Checked on faster-whisper's own Segment and
Word types, with the times a failed alignment produces."""

from __future__ import annotations

import threading
from pathlib import Path

from faster_whisper.transcribe import Segment
from faster_whisper.transcribe import Word as WhisperWord

from v100.ai.asr import LocalWhisper
from v100.ai.asr._whisper import _segment


def _whisper_segment(words: list[WhisperWord], start: float = 2.0, end: float = 5.0) -> Segment:
    return Segment(
        id=1, seek=0, start=start, end=end, text=" 25 people came.", tokens=[],
        avg_logprob=-0.2, compression_ratio=1.1, no_speech_prob=0.01, words=words,
        temperature=0.0,
    )  # fmt: skip


def test_aligned_words_keep_their_times() -> None:
    segment = _segment(
        _whisper_segment(
            [WhisperWord(2.1, 2.5, " 25", 0.9), WhisperWord(2.5, 2.9, " people", 0.8)]
        ),
        duration=10.0,
    )
    assert [(w.text, w.start, w.end, w.aligned) for w in segment.words] == [
        ("25", 2.1, 2.5, True),
        ("people", 2.5, 2.9, True),
    ]


def test_a_word_without_times_gets_the_segments() -> None:
    words = [
        WhisperWord(None, None, " 25", 0.9),  # type: ignore[arg-type]
        WhisperWord(9.0, 9.5, " people", 0.8),  # outside its segment: a failed alignment
        WhisperWord(3.0, 2.0, " came.", 0.7),  # ends before it starts
    ]
    segment = _segment(_whisper_segment(words), duration=10.0)
    for word in segment.words:
        assert (word.start, word.end, word.aligned) == (2.0, 5.0, False), word


def test_times_are_clamped_to_the_audio() -> None:
    segment = _segment(
        _whisper_segment([WhisperWord(7.9, 8.3, " end", 0.9)], start=7.5, end=8.3), duration=8.0
    )
    assert segment.end == 8.0
    (word,) = segment.words
    assert word.end <= 8.0


def test_the_model_loads_once_across_threads(tmp_path: Path) -> None:
    whisper = LocalWhisper(cache_dir=tmp_path)
    models: list[object] = []
    threads = [threading.Thread(target=lambda: models.append(whisper.model())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(models) == 4
    assert all(model is models[0] for model in models)
    whisper.close()

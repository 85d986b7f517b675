"""Every word gets a start and an end: a word the aligner gave no usable time (whisperX#559's
numbers) carries its segment's timing and says so; a word stretched over the join of two
speech regions is put back beside its neighbours. Checked on faster-whisper's own Segment and
Word types, with the times a failed alignment produces."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from faster_whisper.transcribe import Segment
from faster_whisper.transcribe import Word as WhisperWord

from v100.ai.asr import LocalWhisper
from v100.ai.asr._whisper import _segment, _Timeline
from v100.ai.vad import SpeechRegion


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


def test_a_word_stretched_over_a_join_goes_where_its_neighbours_are() -> None:
    """Seen on a 3-hour file (bench/asr_long_file.py): two sentences 2142 s apart became
    regions given to the model back to back; the aligner stretched "If", the first word of the
    second, back over the join, so its middle fell in the first region and faster-whisper's
    ``restore_speech_timestamps`` put it (and so the segment's start) 35 minutes early."""
    first, second = SpeechRegion(137_563, 235_357), SpeechRegion(171_833_600, 171_925_760)
    timeline = _Timeline([first, second])
    join = timeline.ends[0]  # 6.112 s into the speech given to the model
    words = [
        WhisperWord(join - 0.58, join + 0.48, " If", 0.9),
        WhisperWord(join + 0.48, join + 0.64, " you", 0.9),
        WhisperWord(join + 0.64, join + 0.82, " have", 0.9),
    ]
    segment = timeline.restore(_whisper_segment(words, start=join - 0.58, end=join + 0.82))
    # All three in the second region: "If" starts where that region starts (it cannot start
    # in the silence before it), the others keep their offsets.
    assert [(w.word, w.start, w.end) for w in segment.words] == [
        (" If", second.start_s, pytest.approx(second.start_s + 0.48)),
        (" you", pytest.approx(second.start_s + 0.48), pytest.approx(second.start_s + 0.64)),
        (" have", pytest.approx(second.start_s + 0.64), pytest.approx(second.start_s + 0.82)),
    ]
    assert segment.start == second.start_s

    # A word over a join whose neighbours disagree (or that has none) stays with its middle.
    alone = timeline.restore(
        _whisper_segment([WhisperWord(join - 0.1, join + 0.3, " so", 0.9)], start=0.0, end=9.0)
    )
    assert alone.words[0].start == pytest.approx(second.start_s)

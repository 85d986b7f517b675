"""From labelled windows to speaker turns, and from turns to a transcript's words, without the
model: a stray window changes nothing, a real change of speaker lands where it happened, a lone
short reply keeps its speaker, and words take the speaker they overlap most (numbered by first
appearance)."""

from __future__ import annotations

import numpy as np

from v100.ai.asr import Transcript, TranscriptSegment, Word
from v100.ai.audio import SAMPLE_RATE
from v100.ai.diarization import Diarization, SpeakerTurn, label_speakers
from v100.ai.diarization._timeline import speaker_turns
from v100.ai.vad import SpeechRegion


def _windows(start: float, end: float) -> list[tuple[int, int]]:
    """1.6 s windows every 0.4 s from ``start`` to ``end`` (seconds), as sample spans."""
    size, hop = int(1.6 * SAMPLE_RATE), int(0.4 * SAMPLE_RATE)
    first, last = int(start * SAMPLE_RATE), int(end * SAMPLE_RATE)
    return [(at, at + size) for at in range(first, last - size + 1, hop)]


def _region(start: float, end: float) -> SpeechRegion:
    return SpeechRegion(int(start * SAMPLE_RATE), int(end * SAMPLE_RATE))


def test_one_stray_window_changes_nothing() -> None:
    windows = _windows(0.0, 10.0)
    labels = np.zeros(len(windows), dtype=np.int64)
    labels[len(windows) // 2] = 1
    turns = speaker_turns([_region(0.0, 10.0)], windows, labels, min_turn=0.6)
    assert [(turn.start, turn.end, turn.speaker) for turn in turns] == [(0.0, 10.0, 0)]


def test_a_change_of_speaker_lands_where_it_happened() -> None:
    windows = _windows(0.0, 12.0)
    # A window belongs to whoever speaks most of it; the voice changes at 6 s.
    labels = np.array([int(start / SAMPLE_RATE + 0.8 > 6.0) for start, _ in windows])
    turns = speaker_turns([_region(0.0, 12.0)], windows, labels, min_turn=0.6)
    assert [turn.speaker for turn in turns] == [0, 1]
    assert abs(turns[0].end - 6.0) <= 0.4
    assert turns[1].end == 12.0


def test_a_lone_short_reply_keeps_its_speaker() -> None:
    # Speaker 0 talks, a 0.5 s "Yes." by speaker 1 between pauses, then speaker 0 again.
    regions = [_region(0.0, 4.0), _region(4.5, 5.0), _region(5.5, 9.5)]
    windows = [*_windows(0.0, 4.0), (regions[1].start, regions[1].end), *_windows(5.5, 9.5)]
    labels = np.array([int(start == regions[1].start) for start, _ in windows])
    turns = speaker_turns(regions, windows, labels, min_turn=0.6)
    assert [(turn.start, turn.end, turn.speaker) for turn in turns] == [
        (0.0, 4.0, 0),
        (4.5, 5.0, 1),
        (5.5, 9.5, 0),
    ]


def _word(text: str, start: float, end: float) -> Word:
    return Word(text=text, start=start, end=end, probability=0.9)


def test_words_take_the_speaker_they_overlap_most() -> None:
    words = (
        _word("Hi", 0.2, 0.5),
        _word("there,", 0.6, 1.2),  # mostly in the second turn
        _word("how", 1.3, 1.5),
        _word("are", 1.6, 1.8),
        _word("you?", 2.6, 2.8),  # in no turn: the nearest one's speaker
    )
    segment = TranscriptSegment("Hi there, how are you?", 0.2, 2.8, words, -0.2, 0.01)
    transcript = Transcript((segment,), "en", 0.99, duration=3.0)
    diarization = Diarization(
        (SpeakerTurn(0.0, 0.8, 5), SpeakerTurn(0.8, 2.0, 2), SpeakerTurn(2.9, 3.0, 5)),
        duration=3.0,
    )
    labelled = label_speakers(transcript, diarization)
    # Renumbered by first appearance: 5 -> 0, 2 -> 1.
    assert [word.speaker for word in labelled.words] == [0, 1, 1, 1, 0]
    assert labelled.segments[0].speaker == 1  # most of its words' time
    assert [word.text for word in labelled.words] == [word.text for word in words]

"""Captions from transcript documents: cues within the limits, every word once and in order,
times that never overlap and stay within the audio (hypothesis over arbitrary transcripts),
speaker labels, and the three formats read back by their own libraries."""

from __future__ import annotations

import io
import itertools
import json
from typing import Any

import srt
import webvtt
from hypothesis import given, settings
from hypothesis import strategies as st

from v100.contracts.transcripts import TranscriptDocument
from v100.media.captions import (
    CaptionLimits,
    Cue,
    build_cues,
    cues_json,
    render_srt,
    render_vtt,
    speaker_label,
)


def document(
    words: list[tuple[str, float, float, int | None]], duration: float | None = None
) -> TranscriptDocument:
    """One segment per speaker run."""
    segments: list[dict[str, Any]] = []
    for text, start, end, speaker in words:
        if not segments or segments[-1]["speaker"] != speaker:
            segments.append({"text": "", "start": start, "end": end, "speaker": speaker,
                             "words": []})  # fmt: skip
        segment = segments[-1]
        segment["words"].append(
            {"word": text, "start": start, "end": end, "confidence": 0.9, "speaker": speaker}
        )
        segment["text"] = (segment["text"] + " " + text).strip()
        segment["end"] = max(segment["end"], end)
    last = max((end for _, _, end, _ in words), default=0.0)
    return TranscriptDocument.model_validate(
        {"duration": last if duration is None else duration, "segments": segments}
    )


def spoken(text: str, *, every: float = 0.3, speaker: int | None = None) -> TranscriptDocument:
    return document(
        [(w, i * every, i * every + every * 0.8, speaker) for i, w in enumerate(text.split())]
    )


def check_invariants(
    cues: list[Cue], doc: TranscriptDocument, limits: CaptionLimits, *, labels: bool
) -> None:
    expected = [w.word for s in doc.segments for w in s.words]
    shown = [word for cue in cues for line in cue.lines for word in line.split()]
    assert shown == expected  # every word once, in order
    bound = max(doc.duration, 0.0)
    previous_end = 0.0
    for cue in cues:
        assert 0 <= previous_end <= cue.start < cue.end <= bound + 1e-9
        assert cue.end - cue.start <= limits.max_duration + 1e-9
        assert 1 <= len(cue.lines) <= limits.max_lines
        for number, line in enumerate(cue.lines):
            reserve = (
                len(f"[{speaker_label(cue.speaker)}] ")
                if labels and number == 0 and (cue.speaker is not None)
                else 0
            )
            # A single word longer than a line is the only way past the limit.
            assert len(line) + reserve <= limits.max_chars_per_line or " " not in line
        previous_end = cue.end


words_strategy = st.lists(
    st.tuples(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyzäé.,?!'", min_size=1, max_size=14),
        st.floats(min_value=0, max_value=3, allow_nan=False),  # gap before
        st.floats(min_value=0, max_value=2.5, allow_nan=False),  # length
        st.sampled_from([None, 0, 1]),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(
    raw=words_strategy,
    width=st.integers(min_value=8, max_value=60),
    lines=st.integers(min_value=1, max_value=3),
    max_duration=st.floats(min_value=1, max_value=10),
    min_duration=st.floats(min_value=0, max_value=1),
    labels=st.booleans(),
    tail=st.floats(min_value=0, max_value=2),
)
def test_any_transcript_gives_cues_within_the_limits(
    raw: list[tuple[str, float, float, int | None]],
    width: int,
    lines: int,
    max_duration: float,
    min_duration: float,
    labels: bool,
    tail: float,
) -> None:
    at, words = 0.0, []
    for text, gap, length, speaker in raw:
        start = at + gap
        words.append((text, round(start, 3), round(start + length, 3), speaker))
        at = start + length
    # At least a millisecond per cue (80 words at most).
    doc = document(words, duration=max(0.1, round(at + tail, 3)))
    limits = CaptionLimits(
        max_chars_per_line=width, max_lines=lines, max_duration=max_duration,
        min_duration=min_duration,
    )  # fmt: skip
    cues = build_cues(doc, limits, speaker_labels=labels)
    check_invariants(cues, doc, limits, labels=labels)
    # The formats carry the same cues.
    parsed = list(srt.parse(render_srt(cues, speaker_labels=labels)))
    assert [(s.start.total_seconds(), s.end.total_seconds()) for s in parsed] == [
        (c.start, c.end) for c in cues
    ]


def test_lines_break_at_word_boundaries_within_42_characters() -> None:
    text = (
        "The meeting starts at three on Monday and we expect twenty five people to join us. "
        "Please bring your laptop and a printed copy of the quarterly report for review."
    )
    doc = spoken(text)
    cues = build_cues(doc)
    check_invariants(cues, doc, CaptionLimits(), labels=False)
    assert all(len(line) <= 42 for cue in cues for line in cue.lines)
    assert any(len(cue.lines) == 2 for cue in cues)
    # Cut by the words' timings, not the segment's text: each cue starts on its first word.
    starts = {w.word: w.start for w in doc.segments[0].words}
    for cue in cues:
        first = cue.lines[0].split()[0]
        assert cue.start in {round(t, 3) for w, t in starts.items() if w == first}


def test_a_long_pause_and_a_new_speaker_start_new_cues() -> None:
    doc = document(
        [("one", 0.0, 0.3, 0), ("two", 0.4, 0.7, 0), ("three", 3.0, 3.3, 0), ("four", 3.4, 3.7, 1)]
    )
    cues = build_cues(doc, CaptionLimits(min_duration=1.2))
    assert [c.text for c in cues] == ["one two", "three", "four"]
    assert [c.speaker for c in cues] == [0, 0, 1]
    assert cues[0].end == 1.2  # stretched to the minimum, as the next cue leaves room
    assert cues[1].end == 3.4  # stretched up to the next cue only


def test_cue_duration_is_capped() -> None:
    doc = spoken("a " * 60, every=0.5)
    cues = build_cues(doc, CaptionLimits(max_duration=3.0, max_chars_per_line=80))
    assert cues
    assert all(cue.end - cue.start <= 3.0 for cue in cues)


def test_words_sharing_their_segments_timing_are_spread_over_it() -> None:
    """Unaligned words carry the segment's start and end: the cues still move through it."""
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
        "lambda",
        "mu",
        "nu",
        "xi",
    ]
    doc = TranscriptDocument.model_validate({
        "duration": 10.0,
        "segments": [{"text": " ".join(words), "start": 1.0, "end": 9.0, "words": [
            {"word": w, "start": 1.0, "end": 9.0, "confidence": 0.5, "aligned": False}
            for w in words]}],
    })  # fmt: skip
    cues = build_cues(doc, CaptionLimits(max_chars_per_line=20, max_lines=1))
    assert len(cues) > 3
    assert cues[0].start == 1.0
    assert cues[-1].end <= 9.0
    assert all(a.end <= b.start for a, b in itertools.pairwise(cues))


def test_a_segment_without_words_is_captioned_from_its_text() -> None:
    doc = TranscriptDocument.model_validate(
        {
            "duration": 5.0,
            "segments": [{"text": "no word timings here at all", "start": 0.0, "end": 4.0}],
        }
    )
    cues = build_cues(doc)
    assert " ".join(c.text for c in cues) == "no word timings here at all"


def test_srt_with_speaker_labels_reads_back() -> None:
    doc = document([("Hello", 0.0, 0.5, 0), ("there.", 0.5, 1.0, 0), ("Hi!", 1.2, 1.6, 1)])
    cues = build_cues(doc, speaker_labels=True)
    parsed = list(srt.parse(render_srt(cues, speaker_labels=True)))
    assert [s.content for s in parsed] == ["[Speaker 1] Hello there.", "[Speaker 2] Hi!"]
    assert [s.index for s in parsed] == [1, 2]
    plain = list(srt.parse(render_srt(cues)))
    assert [s.content for s in plain] == ["Hello there.", "Hi!"]


def test_vtt_with_voice_tags_reads_back_and_is_escaped() -> None:
    doc = document([("Tom", 0.0, 0.4, 0), ("&", 0.4, 0.6, 0), ("<Jerry>", 0.6, 1.0, 0),
                    ("Yes", 1.2, 1.5, 1)])  # fmt: skip
    cues = build_cues(doc, speaker_labels=True)
    vtt = webvtt.from_buffer(io.StringIO(render_vtt(cues, speaker_labels=True)))
    assert [c.voice for c in vtt.captions] == ["Speaker 1", "Speaker 2"]
    assert vtt.captions[0].text == "Tom &amp; &lt;Jerry&gt;"
    assert [(c.start_in_seconds, c.end_in_seconds) for c in vtt.captions] == [
        (int(c.start), int(c.end)) for c in cues
    ]
    assert vtt.captions[0].start == "00:00:00.000"
    assert vtt.captions[1].end == f"00:00:0{int(cues[1].end)}.{round(cues[1].end % 1 * 1000):03d}"


def test_json_cues() -> None:
    doc = document([("Hello", 0.0, 0.5, 0), ("world", 0.6, 1.0, 0)])
    out = json.loads(json.dumps(cues_json(build_cues(doc), speaker_labels=True)))
    assert out == [{"index": 1, "start": 0.0, "end": 1.0, "lines": ["Hello world"],
                    "text": "Hello world", "speaker": 0, "label": "Speaker 1"}]  # fmt: skip


def test_an_empty_transcript_has_no_cues() -> None:
    doc = TranscriptDocument(duration=3.0)
    assert build_cues(doc) == []
    assert list(srt.parse(render_srt([]))) == []
    assert webvtt.from_buffer(io.StringIO(render_vtt([]))).captions == []

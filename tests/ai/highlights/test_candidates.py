"""Candidate clips and the ranked list: clips open on a sentence (or a cut in the silence just
before it) and close after a sentence (or on a cut just after it), never inside a word, within
the requested durations; the highlights taken do not overlap; without speech, clips run
between scene boundaries."""

from __future__ import annotations

import itertools

import pytest

from v100.ai.highlights import Cut, HighlightRequest, HighlightSettings, VideoSignals
from v100.ai.highlights import find_highlights as find
from v100.ai.highlights._candidates import candidates
from v100.ai.highlights._transcript import read_transcript
from v100.contracts.transcripts import TranscriptDocument

from .support import sentence_times, spoken

TALK = [
    ["We started the project in March.", "It took a while to find the first users."],
    [
        "Why do ninety percent of new products fail?",
        "Because nobody talks to customers before building.",
        "You should call five customers every single week.",
    ],
    ["After that we moved to a new office.", "The office has a garden and a kitchen."],
]


def test_every_candidate_opens_and_closes_on_whole_sentences() -> None:
    document = spoken(TALK)
    settings = HighlightSettings()
    sentences, _ = read_transcript(document)
    request = HighlightRequest(min_duration=3.0, max_duration=12.0)
    clips = candidates(sentences, [], document.duration, request, settings)
    assert clips
    times = sentence_times(document)
    words = document.words()
    for clip in clips:
        assert 3.0 <= clip.duration <= 12.0
        first, last = clip.first_sentence, clip.last_sentence
        assert first is not None
        assert last is not None
        silence_from = times[first - 1][1] if first else 0.0
        assert clip.start == pytest.approx(max(silence_from, times[first][0] - settings.lead))
        silence_to = times[last + 1][0] if last + 1 < len(times) else document.duration
        assert clip.end == pytest.approx(min(silence_to, times[last][1] + settings.tail))
        # No word is cut: each is wholly inside the clip or wholly outside it.
        for word in words:
            assert (
                word.end <= clip.start
                or word.start >= clip.end
                or (clip.start <= word.start and word.end <= clip.end)
            )


def test_a_cut_in_the_silence_before_a_sentence_opens_the_clip() -> None:
    document = spoken(TALK)
    times = sentence_times(document)
    second_paragraph = times[2][0]
    before = Cut(second_paragraph - 0.6)
    inside = Cut(times[2][0] + 1.0)  # in the middle of the words: never a place to cut
    after = Cut(times[4][1] + 0.5)  # in the pause after the paragraph
    settings = HighlightSettings()
    sentences, _ = read_transcript(document)
    cuts = [before.time, inside.time, after.time]
    request = HighlightRequest(min_duration=1.0, max_duration=30.0)
    clips = candidates(sentences, cuts, document.duration, request, settings)
    opening = [c for c in clips if c.first_sentence == 2]
    assert opening
    assert all(c.start == before.time and c.starts_at_cut for c in opening)
    closing = [c for c in clips if c.last_sentence == 4]
    assert closing
    assert all(c.end == after.time and c.ends_at_cut for c in closing)
    # A cut further than ``cut_snap`` from the words is not taken.
    far = [second_paragraph - 1.9]
    clips = candidates(sentences, far, document.duration, request, settings)
    assert not any(c.starts_at_cut for c in clips if c.first_sentence == 2)


def test_highlights_fit_the_durations_and_do_not_overlap() -> None:
    document = spoken(TALK * 3)
    signals = VideoSignals(duration=document.duration)
    found = find(document, signals, HighlightRequest(count=10, min_duration=5, max_duration=15))
    assert len(found) >= 4
    assert [h.rank for h in found] == list(range(1, len(found) + 1))
    assert [h.score for h in found] == sorted((h.score for h in found), reverse=True)
    for h in found:
        assert 5 <= h.duration <= 15
        assert len(h.factors) == 6
        assert all(0.0 <= f.score <= 1.0 and f.reason for f in h.factors)
    spans = sorted((h.start, h.end) for h in found)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    # A duration no run of sentences fits gives nothing, not a clip of the wrong length.
    assert find(document, signals, HighlightRequest(min_duration=0.5, max_duration=1.0)) == []


def test_the_best_clip_is_the_whole_paragraph_with_the_hook() -> None:
    document = spoken(TALK)
    found = find(
        document,
        VideoSignals(duration=document.duration),
        HighlightRequest(count=3, min_duration=3, max_duration=20),
    )
    best = found[0]
    assert best.text.startswith("Why do ninety percent")
    assert best.text.endswith("every single week.")
    assert (best.first_sentence, best.last_sentence) == (2, 4)
    # The words said in its first 3 s (2.5 words a second).
    assert best.opening.startswith("Why do ninety percent of new products")


def test_without_speech_clips_run_between_scene_boundaries() -> None:
    silent = TranscriptDocument(duration=60.0)
    signals = VideoSignals(duration=60.0, cuts=(Cut(10.0), Cut(24.0), Cut(41.0, "fade")))
    found = find(silent, signals, HighlightRequest(count=5, min_duration=12, max_duration=25))
    assert found
    edges = {0.0, 10.0, 24.0, 41.0, 60.0}
    for h in found:
        assert h.start in edges
        assert h.end in edges
        assert h.factor("narrative").reason.startswith("no speech")
        assert h.factor("hook").score == 0.0
        assert h.text == ""


@pytest.mark.parametrize(
    ("count", "low", "high"), [(0, 15.0, 60.0), (1, 0.0, 10.0), (1, 20.0, 10.0)]
)
def test_a_bad_request_is_refused(count: int, low: float, high: float) -> None:
    with pytest.raises(ValueError, match="must"):
        HighlightRequest(count=count, min_duration=low, max_duration=high)

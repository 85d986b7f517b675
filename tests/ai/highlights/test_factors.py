"""Each factor of the local scorer moves the way its name says on inputs built to differ in
that one respect, every factor stays in [0, 1] with a reason, the weights come from the
settings, and the same input always gives the same list."""

from __future__ import annotations

import dataclasses

import pytest

from v100.ai.highlights import (
    Curve,
    Cut,
    FaceSpan,
    FactorWeights,
    HighlightRequest,
    HighlightSettings,
    SpeechSpan,
    VideoSignals,
    find_highlights,
)
from v100.ai.highlights._video import _Coverage

from .support import spoken, whole_clip_factors

REST = ["The team met on Monday to plan the launch.", "It went well."]


def _flat(document_duration: float, value: float) -> Curve:
    return Curve(0.0, 0.5, tuple([value] * int(document_duration * 2 + 2)))


def _steps(duration: float, before: float, after: float, split: float) -> Curve:
    """``before`` until ``split`` seconds, ``after`` from then on, every 0.5 s."""
    steps = int(duration * 2 + 2)
    return Curve(0.0, 0.5, tuple(after if i * 0.5 >= split else before for i in range(steps)))


def test_a_question_a_number_and_you_make_a_stronger_hook_than_filler() -> None:
    strong = spoken([["Why do you lose 90 percent of your leads?", *REST]])
    filler = spoken([["Um so yeah we kind of started there.", *REST]])
    plain = spoken([["The office is on the second floor.", *REST]])
    hooks = [whole_clip_factors(d)["hook"] for d in (strong, plain, filler)]
    assert hooks[0].score > hooks[1].score > hooks[2].score
    assert "question" in hooks[0].reason
    assert "you" in hooks[0].reason
    assert "number" in hooks[0].reason
    assert 'filler ("um")' in hooks[2].reason


def test_a_late_first_word_weakens_the_hook() -> None:
    prompt = spoken([["Why do you lose 90 percent of your leads?", *REST]], start=1.0)
    factors = whole_clip_factors(prompt)
    # The same words with the clip opening 2.5 s before them (a cut in a long silence).
    late = spoken([["Why do you lose 90 percent of your leads?", *REST]], start=4.0)
    silence = VideoSignals(duration=late.duration, cuts=(Cut(1.5),))
    settings = HighlightSettings(cut_snap=3.0)
    delayed = whole_clip_factors(late, silence, settings=settings)
    assert delayed["hook"].score < factors["hook"].score
    assert "s before the first word" in delayed["hook"].reason


def test_exclamations_and_loudness_raise_emotion() -> None:
    excited = spoken([["This is amazing!", "I absolutely love it!", "Wow, what a day!"]])
    calm = spoken([["This is a document.", "It has three pages.", "The font is small."]])
    # Quiet where the words are and loud after them, or the other way round.
    quiet_loud = _steps(30.0, -40.0, -12.0, excited.duration)
    loud = VideoSignals(duration=excited.duration, loudness=_steps(30, -12, -40, excited.duration))
    quiet = VideoSignals(duration=calm.duration, loudness=quiet_loud)
    high = whole_clip_factors(excited, loud)["emotion"]
    low = whole_clip_factors(calm, quiet)["emotion"]
    assert high.score > low.score
    assert "3 exclamations" in high.reason
    assert "emotion word" in high.reason
    # The same words, loud against quiet: loudness alone moves it.
    same_quiet = whole_clip_factors(excited, VideoSignals(excited.duration, loudness=quiet_loud))
    assert high.score > same_quiet["emotion"].score
    assert "no loudness curve" in whole_clip_factors(excited)["emotion"].reason


def test_numbers_names_and_content_words_raise_information_and_fillers_lower_it() -> None:
    dense = spoken([["Revenue grew 40 percent in 2025 after Acme opened 12 stores in Berlin."]])
    vague = spoken([["Um so it was like uh you know kind of a thing that we did."]])
    rich = whole_clip_factors(dense)["information"]
    poor = whole_clip_factors(vague)["information"]
    assert rich.score > poor.score
    assert "filler" in poor.reason
    # Long silence inside the clip (VAD's speech spans) lowers it too.
    spans = VideoSignals(dense.duration, speech=(SpeechSpan(1.0, 2.0),))
    assert whole_clip_factors(dense, spans)["information"].score < rich.score


def test_a_whole_paragraph_is_more_complete_than_a_fragment() -> None:
    whole = spoken([["We tested three pricing pages last month.", "The simplest one won."]])
    fragment = spoken([["And that is why it matters?"]])
    complete = whole_clip_factors(whole)["narrative"]
    partial = whole_clip_factors(fragment)["narrative"]
    assert complete.score > partial.score
    assert complete.score == 1.0
    assert "leans on what came before" in partial.reason
    assert "open question" in partial.reason


def test_faces_cuts_and_motion_raise_visual_dynamism() -> None:
    document = spoken([["We tested three pricing pages last month.", "The simplest one won."]])
    d = document.duration
    busy = VideoSignals(
        duration=d,
        cuts=(Cut(2.0), Cut(3.0), Cut(4.0)),
        faces=(FaceSpan(1, 0.0, d, 0.35),),
        motion=_steps(d + 20, 9.0, 1.0, d),
    )
    still = VideoSignals(duration=d, cuts=(), faces=(), motion=_steps(d + 20, 1.0, 9.0, d))
    high = whole_clip_factors(document, busy)["visual"]
    low = whole_clip_factors(document, still)["visual"]
    assert high.score > 0.8 > 0.2 > low.score
    assert "a face on screen 100%" in high.reason
    assert "3 cuts" in high.reason
    nothing = whole_clip_factors(document)["visual"]
    assert (nothing.score, nothing.reason) == (0.0, "no picture signals")


def test_keywords_raise_relevance() -> None:
    document = spoken([["Our pricing page converts better since we cut the plans to two."]])
    asked = whole_clip_factors(document, keywords=["pricing", "plan"])["relevance"]
    other = whole_clip_factors(document, keywords=["recipes", "gardening"])["relevance"]
    assert asked.score > other.score == 0.0
    assert "2 of 2 keywords (pricing, plan)" in asked.reason
    phrase = whole_clip_factors(document, keywords=["pricing page"])["relevance"]
    assert phrase.score > 0.6


def test_the_weights_come_from_the_settings() -> None:
    # One paragraph with the hook, one with the keyword: the weights decide which leads.
    document = spoken(
        [
            ["Why do you lose 90 percent of your leads?", "Nobody calls them back."],
            ["The garden needs water in summer.", "The garden grows tomatoes."],
        ]
    )
    request = HighlightRequest(count=2, min_duration=2, max_duration=8, keywords=("garden",))
    signals = VideoSignals(duration=document.duration)
    hook_first = HighlightSettings(weights=FactorWeights(hook=1, relevance=0.01))
    topic_first = HighlightSettings(weights=FactorWeights(hook=0.01, relevance=1))
    by_hook = find_highlights(document, signals, request, hook_first)
    by_topic = find_highlights(document, signals, request, topic_first)
    assert by_hook[0].text.startswith("Why")
    assert by_topic[0].text.startswith("The garden")
    with pytest.raises(ValueError, match="not all 0"):
        FactorWeights(0, 0, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="at least 0"):
        FactorWeights(hook=-1)


def test_the_same_input_gives_the_same_list_and_ties_go_to_the_earlier_clip() -> None:
    same = ["We tested three pricing pages last month.", "The simplest one won."]
    document = spoken([same, same, same])
    d = document.duration
    signals = VideoSignals(
        duration=d,
        cuts=(Cut(9.0), Cut(3.0)),
        faces=(FaceSpan(2, 5.0, 9.0, 0.2), FaceSpan(1, 0.0, 4.0, 0.3)),
        loudness=_flat(d, -20.0),
    )
    request = HighlightRequest(count=3, min_duration=2, max_duration=10)
    first = find_highlights(document, signals, request)
    # The same signals given in another order.
    shuffled = dataclasses.replace(
        signals,
        cuts=tuple(reversed(signals.cuts or ())),
        faces=tuple(reversed(signals.faces or ())),
    )
    assert find_highlights(document, shuffled, request) == first
    assert find_highlights(document, signals, request) == first
    plain = find_highlights(document, VideoSignals(duration=d), request)
    assert [h.score for h in plain] == [plain[0].score] * 3
    assert [h.start for h in plain] == sorted(h.start for h in plain)


def test_face_and_speech_time_counts_overlapping_spans_once() -> None:
    spans = [FaceSpan(1, 0.0, 2.0, 0.2), FaceSpan(2, 1.0, 3.0, 0.4), FaceSpan(3, 10.0, 12.0, 0.2)]
    cover = _Coverage(spans)
    assert cover.covered(0.0, 20.0) == pytest.approx(5.0)
    assert cover.covered(0.5, 1.5) == pytest.approx(1.0)
    assert cover.covered(2.5, 11.0) == pytest.approx(1.5)
    assert cover.covered(4.0, 9.0) == 0.0
    assert _Coverage([SpeechSpan(1.0, 2.0)]).covered(0.0, 0.5) == 0.0

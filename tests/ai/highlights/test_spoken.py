"""Highlights of real speech: espeak-ng says three paragraphs, the local Whisper transcribes
them, the transcription service's own code groups the words (``to_document``), Silero VAD gives
the speech spans and the samples the loudness curve; cuts sit in the pauses, as an edited
talk's would. The clips must open and close on the sentences Whisper heard, open on the
cuts, and rank the paragraph with the hook and the keyword first."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from v100.ai.asr import LocalWhisper, to_document
from v100.ai.audio import SAMPLE_RATE
from v100.ai.highlights import (
    Curve,
    Cut,
    HighlightRequest,
    HighlightSettings,
    VideoSignals,
    find_highlights,
    speech_from_regions,
)
from v100.ai.testing import make_utterances
from v100.ai.vad import speech_regions

from .support import sentence_times

PARAGRAPHS = [
    "So, yeah, we started the project last year. It was slow at first and the team was small.",
    "Why do ninety percent of new products fail? Because nobody talks to customers. "
    "You should call five customers every single week!",
    "After that we moved the office to a new building. The building has a large kitchen.",
]


def _loudness(pcm: np.ndarray, step: float = 0.5) -> Curve:
    """RMS level in dBFS every ``step`` seconds: what the analysis service's curve holds."""
    size = int(step * SAMPLE_RATE)
    frames = pcm[: pcm.size // size * size].reshape(-1, size).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return Curve(0.0, step, tuple(float(v) for v in 20 * np.log10(np.maximum(rms, 1e-5))))


def test_highlights_of_a_real_transcript(whisper: LocalWhisper, speech_dir: Path) -> None:
    pcm, spans = make_utterances(speech_dir / "highlights", PARAGRAPHS, pause=2.5)
    document = to_document(whisper.transcribe(pcm))
    assert len(document.paragraphs) == 3
    duration = pcm.size / SAMPLE_RATE
    cuts = tuple(Cut(round(span.start - 0.7, 3)) for span in spans[1:])
    signals = VideoSignals(
        duration=duration,
        cuts=cuts,
        speech=speech_from_regions(speech_regions(pcm)),
        loudness=_loudness(pcm),
    )
    request = HighlightRequest(count=3, min_duration=4, max_duration=20, keywords=("customers",))
    found = find_highlights(document, signals, request)
    assert find_highlights(document, signals, request) == found

    best = found[0]
    assert best.text.startswith("Why do")
    assert best.text.rstrip("!.").endswith("every single week")
    assert best.starts_at_cut
    assert best.start == cuts[0].time
    assert best.factor("relevance").score > 0.5
    assert "question" in best.factor("hook").reason

    times = sentence_times(document)
    settings = HighlightSettings()
    for h in found:
        assert h.first_sentence is not None
        assert h.last_sentence is not None
        first, last = times[h.first_sentence], times[h.last_sentence]
        assert first[0] - settings.cut_snap <= h.start <= first[0]
        assert last[1] <= h.end <= last[1] + settings.cut_snap
        for word in document.words():
            inside = h.start <= word.start and word.end <= h.end
            assert inside or word.end <= h.start or word.start >= h.end

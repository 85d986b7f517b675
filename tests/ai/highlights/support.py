"""Transcripts written by hand for the highlight tests, grouped into sentences and paragraphs
by the transcription service's own code (``to_document``), as a real transcript is."""

from __future__ import annotations

from collections.abc import Sequence

from v100.ai.asr import Transcript, TranscriptSegment, Word, to_document
from v100.ai.highlights import Factor, HighlightRequest, HighlightSettings, VideoSignals
from v100.ai.highlights._candidates import candidates
from v100.ai.highlights._factors import score_factors
from v100.ai.highlights._transcript import read_transcript
from v100.ai.highlights._video import Video
from v100.contracts.transcripts import TranscriptDocument

# A pause this long starts a new paragraph (the grouping's is 1.5 s).
PARAGRAPH_GAP = 2.0
SENTENCE_GAP = 0.3


def spoken(
    paragraphs: Sequence[Sequence[str]],
    *,
    start: float = 1.0,
    words_per_second: float = 2.5,
    tail: float = 1.0,
) -> TranscriptDocument:
    """Each sentence's words said evenly at ``words_per_second``, ``SENTENCE_GAP`` between
    sentences and ``PARAGRAPH_GAP`` between paragraphs; the audio lasts ``tail`` past the
    last word."""
    step = 1 / words_per_second
    segments = []
    now = start
    for p, sentences in enumerate(paragraphs):
        if p:
            now += PARAGRAPH_GAP - SENTENCE_GAP
        for sentence in sentences:
            words = []
            for text in sentence.split():
                words.append(Word(text, round(now, 3), round(now + step * 0.9, 3), 0.95))
                now += step
            segments.append(
                TranscriptSegment(sentence, words[0].start, words[-1].end, tuple(words), -0.1, 0.0)
            )
            now += SENTENCE_GAP
    return to_document(Transcript(tuple(segments), "en", 1.0, duration=round(now + tail, 3)))


def sentence_times(document: TranscriptDocument) -> list[tuple[float, float]]:
    return [(s.start, s.end) for p in document.paragraphs for s in p.sentences]


def whole_clip_factors(
    document: TranscriptDocument,
    signals: VideoSignals | None = None,
    keywords: Sequence[str] = (),
    settings: HighlightSettings | None = None,
) -> dict[str, Factor]:
    """The six factors of the clip that runs over the whole transcript, by name."""
    settings = settings or HighlightSettings()
    signals = signals or VideoSignals(duration=document.duration)
    sentences, table = read_transcript(document)
    video = Video(sentences, table, signals, keywords)
    request = HighlightRequest(count=1, min_duration=0.1, max_duration=document.duration)
    clips = candidates(sentences, video.cuts, signals.duration, request, settings)
    whole = next(
        c for c in clips if c.first_sentence == 0 and c.last_sentence == len(sentences) - 1
    )
    return {factor.name: factor for factor in score_factors(video, whole, settings)}

"""A video's highlights: candidate clips cut on sentences and scene boundaries, each scored on
six named factors (hook, emotion, information, narrative, visual, relevance) by a local scorer
that reads the transcript and the video's signals with no vendor key, ranked by their weighted
total; and, when a chat model is configured, the text factors refined and a title,
description and hashtags written for each (``refine_highlights``). The score is a ranking of
one video's clips, reproducible for the same input and settings (docs/video-analysis.md,
"Highlights"; ADR 0049)."""

from v100.ai.highlights._factors import Factor
from v100.ai.highlights._find import Highlight, find_highlights, weighted_total
from v100.ai.highlights._inputs import (
    Curve,
    Cut,
    FaceSpan,
    SpeechSpan,
    VideoSignals,
    cuts_from_scenes,
    faces_from_tracks,
    speech_from_regions,
)
from v100.ai.highlights._refine import (
    Refinement,
    RefinementStatus,
    refine_highlights,
    refinement_messages,
)
from v100.ai.highlights._settings import (
    FACTORS,
    TEXT_FACTORS,
    FactorName,
    FactorWeights,
    HighlightRequest,
    HighlightSettings,
)

__all__ = [
    "FACTORS",
    "TEXT_FACTORS",
    "Curve",
    "Cut",
    "FaceSpan",
    "Factor",
    "FactorName",
    "FactorWeights",
    "Highlight",
    "HighlightRequest",
    "HighlightSettings",
    "Refinement",
    "RefinementStatus",
    "SpeechSpan",
    "VideoSignals",
    "cuts_from_scenes",
    "faces_from_tracks",
    "find_highlights",
    "refine_highlights",
    "refinement_messages",
    "speech_from_regions",
    "weighted_total",
]

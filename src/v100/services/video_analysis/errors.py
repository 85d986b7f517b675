"""video_analysis's problems (RFC 9457 types under ``/problems/``, listed in
docs/video-analysis.md):

    AnalysisNotFound          404  not-found
    VideoNotFound             404  video-not-found        (the POST's video, asked at once)
    VideoNotReady             409  video-not-ready
    VideoHasNoPicture         409  video-has-no-picture   (an audio-only video)
    VideoHasNoAudio           409  video-has-no-audio     (only sound stages asked, no sound)
    ClipNotFound              404  not-found
    HighlightNotFound         404  highlight-not-found    (a clip's highlight id)
    StageNotRun               409  analysis-stage-not-run (a result not asked for, skipped,
                                                           or not finished yet)

The ``Video*`` problems are ``contracts.video_refusals``' (video_processing answers the same).

``AnalysisFailed`` is not raised over HTTP: it carries the slug a failed analysis shows in
``error`` (the media codes below, ``video-too-long``, ``video-deleted``, ``video-unavailable``,
``insufficient-credits``, ``billing-refused``, ``billing-unavailable``, ``analysis-failed``)."""

from __future__ import annotations

from v100 import media
from v100.contracts.video_refusals import (
    VideoHasNoAudio,
    VideoHasNoPicture,
    VideoNotFound,
    VideoNotReady,
)
from v100.kit.errors import Conflict, NotFound
from v100.media.jobs import WorkFailed

__all__ = [
    "MEDIA_ERRORS",
    "AnalysisFailed",
    "AnalysisNotFound",
    "ClipNotFound",
    "HighlightNotFound",
    "StageNotRun",
    "VideoHasNoAudio",
    "VideoHasNoPicture",
    "VideoNotFound",
    "VideoNotReady",
]


class AnalysisNotFound(NotFound):
    title = "No such analysis"


class ClipNotFound(NotFound):
    title = "No such clip"


class HighlightNotFound(NotFound):
    slug = "highlight-not-found"
    title = "No such highlight"


class StageNotRun(Conflict):
    slug = "analysis-stage-not-run"
    title = "This stage has no result"


class AnalysisFailed(WorkFailed):
    """Ends an analysis ``failed`` with ``slug`` and ``detail`` (never retried)."""


# The slug a media error gives a failed analysis (its ``error``).
MEDIA_ERRORS = media.MediaErrorCodes(
    empty="video-empty", unsupported="video-unsupported", corrupt="video-unreadable",
    too_large="video-too-large", failed="video-unreadable", timed_out="analysis-failed",
)  # fmt: skip

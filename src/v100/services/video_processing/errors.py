"""video_processing's problem types (RFC 9457, documented in docs/video.md) and the error codes
an errored video or clip carries in ``error.type``. The three conflicts about a video (not
ready, no audio, no picture) are ``contracts.video_refusals``': its consumers answer the same."""

from __future__ import annotations

from v100 import media
from v100.contracts.video_refusals import VideoHasNoAudio, VideoHasNoPicture, VideoNotReady
from v100.kit.errors import Conflict, NotFound, ValidationFailed

__all__ = [
    "MEDIA_ERRORS",
    "CaptionTrackNotFound",
    "ClipNotFound",
    "DirectUploadNotFound",
    "DirectUploadUnusable",
    "HighlightNotFound",
    "InvalidCropPlan",
    "InvalidTimeRange",
    "ProcessingFailed",
    "ProjectNotFound",
    "VideoHasNoAudio",
    "VideoHasNoPicture",
    "VideoNotFound",
    "VideoNotReady",
]


class ProjectNotFound(NotFound):
    slug = "project-not-found"
    title = "Project not found"


class VideoNotFound(NotFound):
    slug = "video-not-found"
    title = "Video not found"


class HighlightNotFound(NotFound):
    slug = "highlight-not-found"
    title = "Highlight not found"


class ClipNotFound(NotFound):
    slug = "clip-not-found"
    title = "Clip not found"


class DirectUploadNotFound(NotFound):
    slug = "direct-upload-not-found"
    title = "Direct upload not found"


class DirectUploadUnusable(Conflict):
    slug = "direct-upload-unusable"
    title = "This direct upload URL cannot take an upload"


class CaptionTrackNotFound(NotFound):
    slug = "caption-track-not-found"
    title = "Caption track not found"


class InvalidTimeRange(ValidationFailed):
    slug = "invalid-time-range"
    title = "The time range is outside the video"


class InvalidCropPlan(ValidationFailed):
    """A smart clip's crop plan is not one ``media.smart_crop.crop_from_dict`` reads."""

    slug = "invalid-crop-plan"


class ProcessingFailed(Exception):
    """Processing cannot succeed; the video ends ``errored`` with this type and detail."""

    def __init__(self, error_type: str, detail: str) -> None:
        super().__init__(detail)
        self.error_type = error_type
        self.detail = detail


# The ``error.type`` a media failure gives an errored video or clip.
MEDIA_ERRORS = media.MediaErrorCodes(
    empty="empty-input", unsupported="unsupported-input", corrupt="corrupt-input",
    too_large="input-too-large", failed="processing-failed", timed_out="processing-timed-out",
    other="invalid-input",
)  # fmt: skip

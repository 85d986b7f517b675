"""video_processing's problem types (RFC 9457, documented in docs/video.md) and the error codes
an errored video or clip carries in ``error.type``."""

from __future__ import annotations

from v100 import media
from v100.contracts import videos
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


class VideoNotReady(Conflict):
    slug = videos.NOT_READY
    title = "The video is not ready"


class VideoHasNoAudio(Conflict):
    slug = videos.NO_AUDIO
    title = "The video has no audio track"


class VideoHasNoPicture(Conflict):
    slug = videos.NO_PICTURE
    title = "The video has no picture"


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

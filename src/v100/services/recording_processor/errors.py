"""recording_processor's problems (RFC 9457 types under ``/problems/``):

    RecordingNotFound       404  not-found
    RecordingNotUploading   409  recording-not-uploading   (content already received or errored)
    UploadSuperseded        409  recording-upload-superseded (a newer PUT took the upload over)
    RecordingTooLarge       413  recording-too-large       (the recording is marked errored)
    EmptyRecording          422  recording-empty           (the recording is marked errored)

The same slugs (plus ``recording-unreadable``, ``recording-unsupported``,
``recording-picture-too-large`` and ``recording-processing-failed``
from processing) name the ``error`` of an errored recording."""

from __future__ import annotations

from v100 import media
from v100.kit.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed

__all__ = [
    "MEDIA_ERRORS",
    "EmptyRecording",
    "RecordingNotFound",
    "RecordingNotUploading",
    "RecordingTooLarge",
    "UploadSuperseded",
]


class RecordingNotFound(NotFound):
    title = "No such recording"


class RecordingNotUploading(Conflict):
    slug = "recording-not-uploading"
    title = "The recording does not take content now"


class UploadSuperseded(Conflict):
    slug = "recording-upload-superseded"
    title = "A newer upload of this recording took over"


class RecordingTooLarge(PayloadTooLarge):
    slug = "recording-too-large"
    title = "The recording is larger than allowed"


class EmptyRecording(ValidationFailed):
    slug = "recording-empty"
    title = "The recording has no content"


# The problem slug a media error gives an errored recording.
MEDIA_ERRORS = media.MediaErrorCodes(
    empty="recording-empty", unsupported="recording-unsupported", corrupt="recording-unreadable",
    too_large="recording-picture-too-large", failed="recording-unreadable",
    timed_out="recording-processing-failed",
)  # fmt: skip

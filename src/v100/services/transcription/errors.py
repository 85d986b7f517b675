"""transcription's problems (RFC 9457 types under ``/problems/``, listed in
docs/transcription.md):

    TranscriptNotFound        404  not-found
    BackendUnknown            422  transcript-backend-unknown
    SourceTooLarge            413  transcript-source-too-large  (an upload over the limit)
    EmptySource               422  transcript-source-empty      (an upload with no bytes)
    (kit.fetch) UrlNotAllowed 400  url-not-allowed              (a URL to a private address)

``TranscriptFailed`` is not raised over HTTP: it carries the slug a failed transcript shows in
``error`` (the media codes below, ``source-too-long``, ``url-*``, ``insufficient-credits``,
``billing-refused``, ``billing-unavailable``, ``backend-not-configured``,
``diarization-not-configured``, ``transcription-failed``)."""

from __future__ import annotations

from v100 import media
from v100.kit.errors import NotFound, PayloadTooLarge, ValidationFailed

__all__ = [
    "MEDIA_ERRORS",
    "BackendUnknown",
    "EmptySource",
    "SourceTooLarge",
    "TranscriptFailed",
    "TranscriptNotFound",
]


class TranscriptNotFound(NotFound):
    title = "No such transcript"


class BackendUnknown(ValidationFailed):
    slug = "transcript-backend-unknown"
    title = "No such transcription backend"


class SourceTooLarge(PayloadTooLarge):
    slug = "transcript-source-too-large"
    title = "The file is larger than allowed"


class EmptySource(ValidationFailed):
    slug = "transcript-source-empty"
    title = "The file is empty"


class TranscriptFailed(Exception):
    """Ends a transcript ``failed`` with ``slug`` and ``detail`` (never retried)."""

    def __init__(self, slug: str, detail: str) -> None:
        super().__init__(f"{slug}: {detail}")
        self.slug = slug
        self.detail = detail


# The slug a media error gives a failed transcript (its ``error``).
MEDIA_ERRORS = media.MediaErrorCodes(
    empty="source-empty", unsupported="source-unsupported", corrupt="source-unreadable",
    too_large="source-unreadable", failed="source-unreadable", timed_out="transcription-failed",
)  # fmt: skip

"""transcription's problems (RFC 9457 types under ``/problems/``, listed in
docs/transcription.md):

    TranscriptNotFound        404  not-found
    BackendUnknown            422  transcript-backend-unknown
    SourceTooLarge            413  transcript-source-too-large  (an upload over the limit)
    EmptySource               422  transcript-source-empty      (an upload with no bytes)
    VideoNotFound             404  video-not-found              (a video source, at once)
    VideoNotReady             409  video-not-ready
    VideoHasNoAudio           409  video-has-no-audio
    TranscriptNotFinished     409  transcript-not-finished      (service:transcripts: no document)
    (kit.fetch) UrlNotAllowed 400  url-not-allowed              (a URL to a private address)
    SessionNotFound           404  not-found
    SessionNotStreamable      409  session-not-streamable       (streamed once, ended, expired)
    TooManySessions           429  too-many-live-sessions       (the tenant's open sessions)
    SessionOptionsInvalid     422  session-options-invalid

The ``Video*`` problems are ``contracts.video_refusals``' (video_processing answers the same).

``TranscriptFailed`` is not raised over HTTP: it carries the slug a failed transcript shows in
``error`` (the media codes below, ``source-too-long``, ``url-*``, ``insufficient-credits``,
``billing-refused``, ``billing-unavailable``, ``backend-not-configured``,
``diarization-not-configured``, ``video-deleted``, ``video-unavailable``,
``transcription-failed``), and why a live session's credit hold was refused."""

from __future__ import annotations

from v100 import media
from v100.contracts import transcription
from v100.contracts.video_refusals import VideoHasNoAudio, VideoNotFound, VideoNotReady
from v100.kit.errors import Conflict, NotFound, PayloadTooLarge, RateLimited, ValidationFailed
from v100.media.jobs import WorkFailed

__all__ = [
    "MEDIA_ERRORS",
    "BackendUnknown",
    "EmptySource",
    "SessionNotFound",
    "SessionNotStreamable",
    "SessionOptionsInvalid",
    "SourceTooLarge",
    "TooManySessions",
    "TranscriptFailed",
    "TranscriptNotFinished",
    "TranscriptNotFound",
    "VideoHasNoAudio",
    "VideoNotFound",
    "VideoNotReady",
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


class TranscriptFailed(WorkFailed):
    """Ends a transcript ``failed`` with ``slug`` and ``detail`` (never retried); a live
    session's stream the same way (a refused credit hold)."""


# The slug a media error gives a failed transcript (its ``error``).
MEDIA_ERRORS = media.MediaErrorCodes(
    empty="source-empty", unsupported="source-unsupported", corrupt="source-unreadable",
    too_large="source-unreadable", failed="source-unreadable", timed_out="transcription-failed",
)  # fmt: skip


# --- live sessions ---------------------------------------------------------------------------


class SessionNotFound(NotFound):
    title = "No such transcription session"


class SessionNotStreamable(Conflict):
    """The WebSocket of a session that streamed already, ended, or waited too long."""

    slug = "session-not-streamable"
    title = "This session cannot stream"


class TooManySessions(RateLimited):
    slug = "too-many-live-sessions"
    title = "Too many live sessions"


class SessionOptionsInvalid(ValidationFailed):
    slug = "session-options-invalid"
    title = "These session options do not go together"


class TranscriptNotFinished(Conflict):
    slug = transcription.NOT_FINISHED
    title = "The transcript is not finished"

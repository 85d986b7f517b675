"""media_processor's problems (RFC 9457 types under ``/problems/``, listed in
docs/media-processor.md):

    InputNotFound          404  media-input-not-found
    MediaJobNotFound       404  media-job-not-found
    AssemblyNotFound       404  assembly-not-found
    PlatformNotFound       404  platform-not-found
    InputTooLarge          413  media-input-too-large
    EmptyInput             422  media-input-empty
    AssemblyNotOpen        409  assembly-not-open        (completed or failed already)
    AssemblyExpired        410  assembly-expired         (not completed in time; parts dropped)
    PartsMissing           409  assembly-parts-missing   (``missing`` lists the part numbers)
    PartInFlight           409  assembly-part-in-flight  (two first sends of one part at once)
    PartOutOfRange         422  assembly-part-out-of-range
    PartTooSmall           422  assembly-part-too-small  (a part before the last under 5 MiB)
    AssemblyMismatch       422  assembly-mismatch        (size or sha256; nothing is kept)
    InputUnreadable        422  media-input-unreadable   (language detection: not media we read,
                                                          no audio, damaged data)
    LanguageUndetermined   422  language-undetermined    (no letters in the text; no speech)

``JobFailed`` is not raised over HTTP: it carries the slug a failed job shows in ``error``."""

from __future__ import annotations

from v100 import media
from v100.kit.errors import Conflict, NotFound, PayloadTooLarge, ProblemError, ValidationFailed
from v100.media.jobs import WorkFailed

__all__ = [
    "MEDIA_ERRORS",
    "AssemblyExpired",
    "AssemblyMismatch",
    "AssemblyNotFound",
    "AssemblyNotOpen",
    "EmptyInput",
    "InputNotFound",
    "InputTooLarge",
    "InputUnreadable",
    "JobFailed",
    "LanguageUndetermined",
    "MediaJobNotFound",
    "PartInFlight",
    "PartOutOfRange",
    "PartTooSmall",
    "PartsMissing",
    "PlatformNotFound",
]


class InputNotFound(NotFound):
    slug = "media-input-not-found"
    title = "No such media input"


class MediaJobNotFound(NotFound):
    slug = "media-job-not-found"
    title = "No such media job"


class AssemblyNotFound(NotFound):
    slug = "assembly-not-found"
    title = "No such assembly"


class PlatformNotFound(NotFound):
    slug = "platform-not-found"
    title = "No such platform spec"


class InputTooLarge(PayloadTooLarge):
    slug = "media-input-too-large"
    title = "The input is larger than allowed"


class EmptyInput(ValidationFailed):
    slug = "media-input-empty"
    title = "The input has no content"


class AssemblyNotOpen(Conflict):
    slug = "assembly-not-open"
    title = "The assembly takes no more parts"


class AssemblyExpired(ProblemError):
    status = 410
    slug = "assembly-expired"
    title = "The assembly expired before it was completed"


class PartsMissing(Conflict):
    slug = "assembly-parts-missing"
    title = "Some parts of the assembly were not uploaded"


class PartInFlight(Conflict):
    slug = "assembly-part-in-flight"
    title = "Another request is sending this part"


class PartOutOfRange(ValidationFailed):
    slug = "assembly-part-out-of-range"
    title = "The part number is outside the assembly"


class PartTooSmall(ValidationFailed):
    slug = "assembly-part-too-small"
    title = "A part before the last is smaller than 5 MiB"


class AssemblyMismatch(ValidationFailed):
    slug = "assembly-mismatch"
    title = "The assembled file is not the one declared"


class InputUnreadable(ValidationFailed):
    slug = "media-input-unreadable"
    title = "The input is not audio or video that can be read"


class LanguageUndetermined(ValidationFailed):
    slug = "language-undetermined"
    title = "No language could be determined"


class JobFailed(WorkFailed):
    """Ends a media job ``failed`` with ``slug`` and ``detail`` (never retried)."""


# The slug a media error gives a failed job (its ``error``).
MEDIA_ERRORS = media.MediaErrorCodes(
    empty="input-empty", unsupported="input-unsupported", corrupt="input-unreadable",
    too_large="input-too-large", failed="input-unreadable", timed_out="processing-failed",
)  # fmt: skip

"""What can go wrong with a media file or an FFmpeg run. Services turn these into problem+json on
the resource (``video.errored``), so each carries a short, user-facing ``reason``.

    MediaError
     ├── EmptyMedia         zero bytes
     ├── UnsupportedMedia   not a container we read, or no audio/video stream in it
     ├── CorruptMedia       a container we read, with data that cannot be demuxed or decoded
     ├── MediaTooLarge      a picture larger than we agree to decode (decompression bombs)
     └── FFmpegFailed       ffmpeg exited non-zero (stderr tail kept for logs)
          └── FFmpegTimedOut

    FFmpegUnusable          the configured binary cannot run our jobs: a start-up error of the
                            service, never a job's (so not a MediaError)

A job that meets one asks ``is_permanent`` whether a retry could help, and its service's
``MediaErrorCodes`` which code its resource shows in ``error``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CorruptMedia",
    "EmptyMedia",
    "FFmpegFailed",
    "FFmpegTimedOut",
    "FFmpegUnusable",
    "MediaError",
    "MediaErrorCodes",
    "MediaTooLarge",
    "UnsupportedMedia",
    "is_permanent",
]


class MediaError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EmptyMedia(MediaError):
    pass


class UnsupportedMedia(MediaError):
    pass


class CorruptMedia(MediaError):
    pass


class MediaTooLarge(MediaError):
    pass


class FFmpegFailed(MediaError):
    def __init__(self, reason: str, *, returncode: int | None, stderr: str) -> None:
        super().__init__(reason)
        self.returncode = returncode
        self.stderr = stderr


class FFmpegTimedOut(FFmpegFailed):
    pass


class FFmpegUnusable(RuntimeError):
    """``path`` is not an FFmpeg our operations can run on; ``missing`` names each reason."""

    def __init__(self, message: str, *, path: str, missing: list[str]) -> None:
        super().__init__(message)
        self.path = path
        self.missing = missing


def is_permanent(error: MediaError) -> bool:
    """Whether running the job again cannot help: the input is at fault. A timed-out FFmpeg
    may finish on a quieter machine, and one killed by a signal (``returncode`` < 0: the OOM
    killer, a stopped worker) was not refusing the input; an error exit was."""
    if isinstance(error, FFmpegTimedOut):
        return False
    if isinstance(error, FFmpegFailed):
        return error.returncode is not None and error.returncode > 0
    return True


@dataclass(frozen=True, slots=True)
class MediaErrorCodes:
    """The stable codes a service's errored resource shows for each media failure (its
    ``error.type`` or ``error`` slug, documented by the service)."""

    empty: str
    unsupported: str
    corrupt: str
    too_large: str
    # An FFmpeg run that failed, and one that ran out of time.
    failed: str
    timed_out: str
    # A MediaError of no kind above (None: ``corrupt``).
    other: str | None = None

    def code(self, error: MediaError) -> str:
        kinds: tuple[tuple[type[MediaError], str], ...] = (
            (EmptyMedia, self.empty),
            (UnsupportedMedia, self.unsupported),
            (CorruptMedia, self.corrupt),
            (MediaTooLarge, self.too_large),
            (FFmpegTimedOut, self.timed_out),  # before FFmpegFailed: it is one
            (FFmpegFailed, self.failed),
        )
        for kind, code in kinds:
            if isinstance(error, kind):
                return code
        return self.other or self.corrupt

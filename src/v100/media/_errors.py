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
"""

from __future__ import annotations

__all__ = [
    "CorruptMedia",
    "EmptyMedia",
    "FFmpegFailed",
    "FFmpegTimedOut",
    "FFmpegUnusable",
    "MediaError",
    "MediaTooLarge",
    "UnsupportedMedia",
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

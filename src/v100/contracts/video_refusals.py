"""The problems a tenant sees when a video cannot be used: video_processing answers the three
conflicts about its own videos, and transcription and video_analysis answer the same ones (and
``VideoNotFound``) when the video a POST names is refused (``as_problem``). One definition, so
the slug and title a tenant reads do not depend on which service it asked."""

from __future__ import annotations

from v100.contracts.videos import (
    NO_AUDIO,
    NO_PICTURE,
    NOT_READY,
    VideoMissing,
    VideosError,
)
from v100.contracts.videos import (
    VideoHasNoAudio as _NoAudio,
)
from v100.contracts.videos import (
    VideoHasNoPicture as _NoPicture,
)
from v100.contracts.videos import (
    VideoNotReady as _NotReady,
)
from v100.kit.errors import Conflict, NotFound, ProblemError, UpstreamUnavailable

__all__ = ["VideoHasNoAudio", "VideoHasNoPicture", "VideoNotFound", "VideoNotReady", "as_problem"]


class VideoNotFound(NotFound):
    slug = "video-not-found"
    title = "No such video"


class VideoNotReady(Conflict):
    slug = NOT_READY
    title = "The video is not ready"


class VideoHasNoAudio(Conflict):
    slug = NO_AUDIO
    title = "The video has no audio track"


class VideoHasNoPicture(Conflict):
    slug = NO_PICTURE
    title = "The video has no picture"


def as_problem(refusal: VideosError, video_id: str) -> ProblemError:
    """video_processing's refusal of ``video_id`` as the caller's problem, with its detail
    when it gave one; any other answer is 503 (video_processing could not describe it)."""
    detail = refusal.problem.get("detail")
    if isinstance(refusal, VideoMissing):
        return VideoNotFound(f"Video {video_id} does not exist.")
    if isinstance(refusal, _NotReady):
        return VideoNotReady(str(detail or f"Video {video_id} is not ready."))
    if isinstance(refusal, _NoAudio):
        return VideoHasNoAudio(str(detail or f"Video {video_id} has no audio."))
    if isinstance(refusal, _NoPicture):
        return VideoHasNoPicture(str(detail or f"Video {video_id} has no picture."))
    return UpstreamUnavailable(
        f"video_processing did not describe video {video_id} ({refusal.status}).", retry_after=1
    )

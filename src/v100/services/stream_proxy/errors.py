"""stream_proxy's problems (RFC 9457 types under ``/problems/``):

InvalidPlaybackToken   403  invalid-playback-token  (forged, expired, or for another use)
PlaybackNotFound       404  playback-not-found      (no such file for this playback URL)
VideoNotFound          404  video-not-found         (unknown, another tenant's, deleted)
VideoNotPlayable       409  video-not-playable      (not ready, or audio only: no HLS)
RouteNotFound          404  not-found
BackendNotAllowed      400  backend-not-allowed     (not http(s), or a private address)
NoHealthyBackend       503  no-healthy-backend      (every backend of the route is down)
BackendFailed          502  backend-failed          (the chosen backend broke mid-answer)
VideosUnavailable      503  upstream-unavailable    (video_processing did not answer)"""

from __future__ import annotations

from v100.kit.errors import BadRequest, Conflict, Forbidden, NotFound, ProblemError

__all__ = [
    "BackendFailed",
    "BackendNotAllowed",
    "InvalidPlaybackToken",
    "NoHealthyBackend",
    "PlaybackNotFound",
    "RouteNotFound",
    "VideoNotFound",
    "VideoNotPlayable",
]


class InvalidPlaybackToken(Forbidden):
    slug = "invalid-playback-token"
    title = "The playback URL is not valid"


class PlaybackNotFound(NotFound):
    slug = "playback-not-found"
    title = "No such file for this playback URL"


class VideoNotFound(NotFound):
    slug = "video-not-found"
    title = "No such video"


class VideoNotPlayable(Conflict):
    slug = "video-not-playable"
    title = "The video has nothing to stream yet"


class RouteNotFound(NotFound):
    title = "No such media route"


class BackendNotAllowed(BadRequest):
    slug = "backend-not-allowed"
    title = "The backend URL is not allowed"


class NoHealthyBackend(ProblemError):
    status = 503
    slug = "no-healthy-backend"
    title = "Every backend of the route is down"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class BackendFailed(ProblemError):
    status = 502
    slug = "backend-failed"
    title = "The backend did not answer"

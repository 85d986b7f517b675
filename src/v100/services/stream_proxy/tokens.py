"""Signed playback URLs: the token in ``/hls/<token>/...`` (a processed video's ladder) and
``/hls/routes/<token>/...`` (a media route's backends). The token is in the path, as Mux signs
playback ids, so every relative URI in a playlist inherits it and a player needs no credential.

An HS256 JWT under a key derived from the platform's internal token secret (every replica checks
what any replica signed; no tenant can make one), with an audience per kind, so a video's token
never opens a route, nor an internal token either:

    {"aud": "v100-stream-video", "exp": ..., "tid": tenant id, "vid": video id}
    {"aud": "v100-stream-route", "exp": ..., "tid": tenant id, "rid": route id}
"""

from __future__ import annotations

from dataclasses import dataclass

from v100.kit.url_tokens import UrlToken, UrlTokenExpired, UrlTokenInvalid
from v100.services.stream_proxy.errors import InvalidPlaybackToken

__all__ = ["PlaybackGrant", "PlaybackSigner"]


@dataclass(frozen=True, slots=True)
class PlaybackGrant:
    tenant_id: str
    # The video's id, or the route's.
    subject: str
    expires_at: int


class PlaybackSigner:
    def __init__(self, secret: str) -> None:
        label = "v100 stream playback urls"
        self._video = UrlToken(secret, label, "v100-stream-video")
        self._route = UrlToken(secret, label, "v100-stream-route")

    def video(self, tenant_id: str, video_id: str, expires_at: int) -> str:
        return self._video.sign(expires_at, tid=tenant_id, vid=video_id)

    def route(self, tenant_id: str, route_id: str, expires_at: int) -> str:
        return self._route.sign(expires_at, tid=tenant_id, rid=route_id)

    def verify_video(self, token: str) -> PlaybackGrant:
        return _verify(self._video, token, "vid")

    def verify_route(self, token: str) -> PlaybackGrant:
        return _verify(self._route, token, "rid")


def _verify(kind: UrlToken, token: str, claim: str) -> PlaybackGrant:
    try:
        claims = kind.read(token, "tid", claim)
    except UrlTokenExpired:
        raise InvalidPlaybackToken("The playback URL has expired.") from None
    except UrlTokenInvalid:
        raise InvalidPlaybackToken("The playback URL's token is not valid.") from None
    return PlaybackGrant(str(claims["tid"]), str(claims[claim]), int(claims["exp"]))

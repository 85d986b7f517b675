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

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import jwt

from v100.services.stream_proxy.errors import InvalidPlaybackToken

__all__ = ["PlaybackGrant", "PlaybackSigner"]

_VIDEO = "v100-stream-video"
_ROUTE = "v100-stream-route"


@dataclass(frozen=True, slots=True)
class PlaybackGrant:
    tenant_id: str
    # The video's id, or the route's.
    subject: str
    expires_at: int


class PlaybackSigner:
    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), b"v100 stream playback urls", hashlib.sha256).digest()

    def video(self, tenant_id: str, video_id: str, expires_at: int) -> str:
        return self._sign(_VIDEO, "vid", tenant_id, video_id, expires_at)

    def route(self, tenant_id: str, route_id: str, expires_at: int) -> str:
        return self._sign(_ROUTE, "rid", tenant_id, route_id, expires_at)

    def verify_video(self, token: str) -> PlaybackGrant:
        return self._verify(token, _VIDEO, "vid")

    def verify_route(self, token: str) -> PlaybackGrant:
        return self._verify(token, _ROUTE, "rid")

    def _sign(self, audience: str, claim: str, tenant_id: str, subject: str, exp: int) -> str:
        claims = {"aud": audience, "exp": exp, "tid": tenant_id, claim: subject}
        return jwt.encode(claims, self._key, algorithm="HS256")

    def _verify(self, token: str, audience: str, claim: str) -> PlaybackGrant:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=audience,
                options={"require": ["exp", "aud", "tid", claim]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidPlaybackToken("The playback URL has expired.") from None
        except jwt.PyJWTError:
            raise InvalidPlaybackToken("The playback URL's token is not valid.") from None
        return PlaybackGrant(str(claims["tid"]), str(claims[claim]), int(claims["exp"]))

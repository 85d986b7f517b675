"""Signed, expiring tokens carried in URL paths: playback tokens (a player fetches one video's
playlists, segments and downloads with no API key; relative URIs inherit the token) and
direct-upload tokens (a browser creates one tus upload). HS256 JWTs under keys derived from the
platform's internal secret, one key and audience per use, so neither passes for the other."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from v100.kit.errors import Forbidden
from v100.kit.url_tokens import UrlToken, UrlTokenExpired, UrlTokenInvalid

__all__ = ["DirectUploadGrant", "InvalidToken", "PlaybackGrant", "UrlSigner"]


class InvalidToken(Forbidden):
    slug = "invalid-token"
    title = "The URL's token is not valid"


@dataclass(frozen=True, slots=True)
class PlaybackGrant:
    tenant_id: str
    video_id: str
    # Set for a clip's download: the grant covers that clip only.
    clip_id: str | None
    expires_at: int


@dataclass(frozen=True, slots=True)
class DirectUploadGrant:
    tenant_id: str
    direct_upload_id: str
    expires_at: int


class UrlSigner:
    def __init__(self, secret: str) -> None:
        self._playback = UrlToken(secret, "v100 video playback urls", "v100-playback")
        self._upload = UrlToken(secret, "v100 video direct uploads", "v100-direct-upload")

    def playback(
        self, tenant_id: str, video_id: str, expires_at: int, clip_id: str | None = None
    ) -> str:
        if clip_id is not None:
            return self._playback.sign(expires_at, tid=tenant_id, vid=video_id, cid=clip_id)
        return self._playback.sign(expires_at, tid=tenant_id, vid=video_id)

    def verify_playback(self, token: str) -> PlaybackGrant:
        claims = _read(self._playback, token, "vid")
        clip_id = claims.get("cid")
        return PlaybackGrant(
            tenant_id=str(claims["tid"]),
            video_id=str(claims["vid"]),
            clip_id=str(clip_id) if clip_id is not None else None,
            expires_at=int(claims["exp"]),
        )

    def direct_upload(self, tenant_id: str, direct_upload_id: str, expires_at: int) -> str:
        return self._upload.sign(expires_at, tid=tenant_id, dup=direct_upload_id)

    def verify_direct_upload(self, token: str) -> DirectUploadGrant:
        claims = _read(self._upload, token, "dup")
        return DirectUploadGrant(
            tenant_id=str(claims["tid"]),
            direct_upload_id=str(claims["dup"]),
            expires_at=int(claims["exp"]),
        )


def _read(kind: UrlToken, token: str, subject: str) -> dict[str, Any]:
    try:
        return kind.read(token, "tid", subject)
    except UrlTokenExpired:
        raise InvalidToken("The URL has expired.") from None
    except UrlTokenInvalid:
        raise InvalidToken("The URL's token is not valid.") from None


def now() -> int:
    return int(time.time())

"""Signed, expiring tokens carried in URL paths: playback tokens (a player fetches one video's
playlists, segments and downloads with no API key; relative URIs inherit the token) and
direct-upload tokens (a browser creates one tus upload). HS256 JWTs under keys derived from the
platform's internal secret, one key and audience per use, so neither passes for the other."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

import jwt

from v100.kit.errors import Forbidden

__all__ = ["DirectUploadGrant", "InvalidToken", "PlaybackGrant", "UrlSigner"]

_PLAYBACK = "v100-playback"
_DIRECT_UPLOAD = "v100-direct-upload"


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
        raw = secret.encode()
        self._playback_key = hmac.new(raw, b"v100 video playback urls", hashlib.sha256).digest()
        self._upload_key = hmac.new(raw, b"v100 video direct uploads", hashlib.sha256).digest()

    def playback(
        self, tenant_id: str, video_id: str, expires_at: int, clip_id: str | None = None
    ) -> str:
        claims = {"aud": _PLAYBACK, "exp": expires_at, "tid": tenant_id, "vid": video_id}
        if clip_id is not None:
            claims["cid"] = clip_id
        return jwt.encode(claims, self._playback_key, algorithm="HS256")

    def verify_playback(self, token: str) -> PlaybackGrant:
        claims = self._decode(token, self._playback_key, _PLAYBACK, "vid")
        clip_id = claims.get("cid")
        return PlaybackGrant(
            tenant_id=str(claims["tid"]),
            video_id=str(claims["vid"]),
            clip_id=str(clip_id) if clip_id is not None else None,
            expires_at=int(claims["exp"]),
        )

    def direct_upload(self, tenant_id: str, direct_upload_id: str, expires_at: int) -> str:
        claims = {
            "aud": _DIRECT_UPLOAD,
            "exp": expires_at,
            "tid": tenant_id,
            "dup": direct_upload_id,
        }
        return jwt.encode(claims, self._upload_key, algorithm="HS256")

    def verify_direct_upload(self, token: str) -> DirectUploadGrant:
        claims = self._decode(token, self._upload_key, _DIRECT_UPLOAD, "dup")
        return DirectUploadGrant(
            tenant_id=str(claims["tid"]),
            direct_upload_id=str(claims["dup"]),
            expires_at=int(claims["exp"]),
        )

    @staticmethod
    def _decode(token: str, key: bytes, audience: str, subject: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["HS256"],
                audience=audience,
                options={"require": ["exp", "aud", "tid", subject]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("The URL has expired.") from None
        except jwt.PyJWTError:
            raise InvalidToken("The URL's token is not valid.") from None
        return claims


def now() -> int:
    return int(time.time())

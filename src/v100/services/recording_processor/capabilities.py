"""Upload capabilities: the signed, expiring token in a meeting recording's upload URL
(``/v1/recordings/uploads/<token>/<upload id>``). It names one tenant's recording and its tus
upload, and nothing else: the recording page holds it instead of an API key (docs/adr/0057).
An HS256 JWT under a key derived from the platform's internal secret with a label and audience
of its own, so no other signed URL of the platform passes for it."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import jwt

from v100.kit.errors import Forbidden

__all__ = ["InvalidUploadCapability", "UploadCapabilities", "UploadGrant"]

_AUDIENCE = "v100-recording-upload"


class InvalidUploadCapability(Forbidden):
    slug = "upload-capability-invalid"
    title = "The upload URL is not valid"


@dataclass(frozen=True, slots=True)
class UploadGrant:
    tenant_id: str
    recording_id: str
    upload_id: str
    expires_at: int


class UploadCapabilities:
    """Signs and checks upload capabilities with the platform's internal secret."""

    def __init__(self, secret: str) -> None:
        label = b"v100 meeting recording uploads"
        self._key = hmac.new(secret.encode(), label, hashlib.sha256).digest()

    def sign(self, tenant_id: str, recording_id: str, upload_id: str, expires_at: int) -> str:
        claims = {
            "aud": _AUDIENCE,
            "exp": expires_at,
            "tid": tenant_id,
            "rid": recording_id,
            "uid": upload_id,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> UploadGrant:
        """The grant; 403 ``upload-capability-invalid`` for a forged, altered or expired one."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=_AUDIENCE,
                options={"require": ["exp", "aud", "tid", "rid", "uid"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidUploadCapability("The upload URL has expired.") from None
        except jwt.PyJWTError:
            raise InvalidUploadCapability("The upload URL's token is not valid.") from None
        return UploadGrant(
            tenant_id=str(claims["tid"]),
            recording_id=str(claims["rid"]),
            upload_id=str(claims["uid"]),
            expires_at=int(claims["exp"]),
        )

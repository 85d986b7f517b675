"""Upload capabilities: the signed, expiring token in a meeting recording's upload URL
(``/v1/recordings/uploads/<token>/<upload id>``). It names one tenant's recording and its tus
upload, and nothing else: the recording page holds it instead of an API key (docs/adr/0057).
An HS256 JWT under a key derived from the platform's internal secret with a label and audience
of its own, so no other signed URL of the platform passes for it."""

from __future__ import annotations

from dataclasses import dataclass

from v100.kit.errors import Forbidden
from v100.kit.url_tokens import UrlToken, UrlTokenExpired, UrlTokenInvalid

__all__ = ["InvalidUploadCapability", "UploadCapabilities", "UploadGrant"]


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
        self._token = UrlToken(secret, "v100 meeting recording uploads", "v100-recording-upload")

    def sign(self, tenant_id: str, recording_id: str, upload_id: str, expires_at: int) -> str:
        return self._token.sign(expires_at, tid=tenant_id, rid=recording_id, uid=upload_id)

    def verify(self, token: str) -> UploadGrant:
        """The grant; 403 ``upload-capability-invalid`` for a forged, altered or expired one."""
        try:
            claims = self._token.read(token, "tid", "rid", "uid")
        except UrlTokenExpired:
            raise InvalidUploadCapability("The upload URL has expired.") from None
        except UrlTokenInvalid:
            raise InvalidUploadCapability("The upload URL's token is not valid.") from None
        return UploadGrant(
            tenant_id=str(claims["tid"]),
            recording_id=str(claims["rid"]),
            upload_id=str(claims["uid"]),
            expires_at=int(claims["exp"]),
        )

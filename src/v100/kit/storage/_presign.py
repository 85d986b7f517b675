"""Presigned links for the local-disk backend: an HMAC-SHA256 signed token naming the key, the
method, the expiry and the response details, so a browser can GET or PUT one object without
an API key. S3 signs its own URLs (SigV4); these tokens never leave the local backend."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Literal

import orjson

from v100.kit.storage._base import validate_key
from v100.kit.storage._errors import InvalidKey, InvalidPresignedUrl

__all__ = ["PresignedGrant", "derive_presign_key", "sign_grant", "verify_grant"]

Method = Literal["GET", "PUT"]
# Bound into every MAC so a token signed here can never be replayed as another kind of token
# made from the same secret.
_CONTEXT = b"v100.kit.storage.presign.v1."


@dataclass(frozen=True, slots=True)
class PresignedGrant:
    key: str
    method: Method
    expires_at: int
    filename: str | None = None
    content_type: str | None = None


def derive_presign_key(secret: str | bytes) -> bytes:
    """A key for presigned links only, derived from a platform secret shared for other uses."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, b"v100 storage presigned links", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> bytes:
    return hmac.new(key, _CONTEXT + payload.encode("ascii"), hashlib.sha256).digest()


def sign_grant(key: bytes, grant: PresignedGrant) -> str:
    body: dict[str, object] = {"k": grant.key, "m": grant.method, "x": grant.expires_at}
    if grant.filename is not None:
        body["f"] = grant.filename
    if grant.content_type is not None:
        body["c"] = grant.content_type
    payload = _b64(orjson.dumps(body))
    return f"{payload}.{_b64(_mac(key, payload))}"


def verify_grant(
    key: bytes, token: str, method: str, *, now: float | None = None
) -> PresignedGrant:
    """The grant in ``token`` if its signature holds, it has not expired and it allows
    ``method`` (a GET grant also allows HEAD); ``InvalidPresignedUrl`` otherwise."""
    payload, _, signature = token.partition(".")
    try:
        given = _unb64(signature)
        expected = _mac(key, payload)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidPresignedUrl("malformed link") from None
    # Constant time, and before the payload is parsed: nothing unsigned is ever interpreted.
    if not hmac.compare_digest(given, expected):
        raise InvalidPresignedUrl("link signature does not match")
    try:
        body = orjson.loads(_unb64(payload))
        grant = PresignedGrant(
            key=validate_key(body["k"]),
            method=body["m"],
            expires_at=int(body["x"]),
            filename=body.get("f"),
            content_type=body.get("c"),
        )
    except (binascii.Error, ValueError, KeyError, TypeError, InvalidKey):
        raise InvalidPresignedUrl("malformed link") from None
    if (time.time() if now is None else now) >= grant.expires_at:
        raise InvalidPresignedUrl("link has expired")
    allowed = ("GET", "HEAD") if grant.method == "GET" else (grant.method,)
    if method.upper() not in allowed:
        raise InvalidPresignedUrl(f"link does not allow {method.upper()}")
    return grant

"""Signed, expiring tokens carried in URLs (playback links, upload capabilities): HS256 JWTs
under a key derived from the platform's internal secret with a label of their own, checked
against an audience of their own, so a token made for one use never passes for another, and
every replica checks what any replica signed. The services map the two failures to their own
problems (403 with their slug)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import jwt

__all__ = ["UrlToken", "UrlTokenExpired", "UrlTokenInvalid"]


class UrlTokenInvalid(Exception):
    """Forged, altered, for another audience, or missing a claim."""


class UrlTokenExpired(UrlTokenInvalid):
    """Well signed, but past its ``exp``."""


class UrlToken:
    """One kind of URL token: its key (from ``secret`` and ``label``) and its audience."""

    def __init__(self, secret: str, label: str, audience: str) -> None:
        self._key = hmac.new(secret.encode(), label.encode(), hashlib.sha256).digest()
        self.audience = audience

    def sign(self, expires_at: int, **claims: str) -> str:
        return jwt.encode(
            {"aud": self.audience, "exp": expires_at, **claims}, self._key, algorithm="HS256"
        )

    def read(self, token: str, *required: str) -> dict[str, Any]:
        """The token's claims, with ``exp`` and each of ``required`` present."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=self.audience,
                options={"require": ["exp", "aud", *required]},
            )
        except jwt.ExpiredSignatureError:
            raise UrlTokenExpired from None
        except jwt.PyJWTError:
            raise UrlTokenInvalid from None
        return claims

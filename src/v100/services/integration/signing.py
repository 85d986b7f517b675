"""Standard Webhooks signatures (standardwebhooks.com): secrets are ``whsec_`` and the base64 of
24 random bytes; a delivery carries ``webhook-id`` (the message id, the same on every attempt),
``webhook-timestamp`` (the attempt's Unix time) and ``webhook-signature``, a space-separated
list of ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, one per secret in force (two
during a rotation's overlap, so a receiver holding either secret verifies)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

__all__ = ["SECRET_PREFIX", "new_secret", "signature_header", "signed_headers"]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme's prefix, not a secret
_SECRET_BYTES = 24


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def _sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(
    secrets_in_force: Iterable[str], message_id: str, timestamp: int, body: bytes
) -> str:
    return " ".join(_sign(secret, message_id, timestamp, body) for secret in secrets_in_force)


def signed_headers(
    secrets_in_force: Iterable[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_in_force, message_id, timestamp, body),
    }

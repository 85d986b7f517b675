"""Secrets kept at rest (a vendor's OAuth tokens, per-tenant credentials), sealed with AES-256-GCM
under a key derived from a platform secret. A sealed value names its key (``v1.<key id>.<data>``),
so keys rotate: new values are sealed under the current key, old ones still open under a retired
key until they are sealed again (``Sealer.stale`` says which).

    sealer = Sealer.from_settings(platform)
    sealed = sealer.seal("ya29.token", context="crm:conn_1:access")
    sealer.open(sealed, context="crm:conn_1:access")     # "ya29.token"

The ``context`` is authenticated with the value (GCM's associated data): a sealed value copied
to another row or field does not open there."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from v100.kit.settings import PlatformSettings

__all__ = ["SealError", "Sealer"]

_VERSION = "v1"
_NONCE_BYTES = 12
_KEY_INFO = b"v100 sealing key v1"


class SealError(ValueError):
    """A sealed value that does not open: malformed, sealed under a key this installation no
    longer has, tampered with, or read under another context."""


@dataclass(frozen=True, slots=True)
class _Key:
    id: str
    aead: AESGCM


def _derive(secret: str) -> _Key:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(
        secret.encode()
    )
    # The id names the key without revealing it: a digest of the derived key, not the secret.
    key_id = hmac.new(raw, b"v100 sealing key id", hashlib.sha256).hexdigest()[:12]
    return _Key(key_id, AESGCM(raw))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sealer:
    """Seals under the current key; opens under the current key or any retired one."""

    def __init__(self, current: str, retired: Iterable[str] = ()) -> None:
        if not current:
            raise ValueError("a sealing secret is required")
        self._current = _derive(current)
        self._keys = {self._current.id: self._current}
        for secret in retired:
            key = _derive(secret)
            self._keys.setdefault(key.id, key)

    @classmethod
    def from_settings(cls, platform: PlatformSettings) -> Sealer:
        """The installation's sealer: ``V100_SEALING_KEY`` (and ``V100_SEALING_RETIRED_KEYS``),
        or, unset, a key derived from the internal token secret (under its own HKDF label, so
        the two never share key material)."""
        configured = platform.sealing_key
        current = (
            configured.get_secret_value()
            if configured is not None
            else "derived:" + platform.resolved_internal_token_secret
        )
        return cls(current, (key.get_secret_value() for key in platform.sealing_retired_keys))

    @property
    def key_id(self) -> str:
        return self._current.id

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._current.aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_VERSION}.{self._current.id}.{_b64(nonce + sealed)}"

    def open(self, sealed: str, *, context: str) -> str:
        version, _, rest = sealed.partition(".")
        key_id, _, data = rest.partition(".")
        if version != _VERSION or not key_id or not data:
            raise SealError("not a sealed value")
        key = self._keys.get(key_id)
        if key is None:
            raise SealError(f"sealed under key {key_id}, which this installation does not hold")
        try:
            raw = _unb64(data)
        except (binascii.Error, ValueError) as exc:
            raise SealError("not a sealed value") from exc
        if len(raw) <= _NONCE_BYTES:
            raise SealError("not a sealed value")
        try:
            plain = key.aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
        except InvalidTag as exc:
            raise SealError(
                "the sealed value does not open (tampered, or another context)"
            ) from exc
        return plain.decode()

    def stale(self, sealed: str) -> bool:
        """Sealed under a retired key: seal it again under the current one when next written."""
        return sealed.split(".", 2)[1:2] != [self._current.id]

"""The gateway's cryptography, with no business words: Argon2id password hashing off the event
loop, user access tokens (HS256 JWTs whose audience is not the internal one), and the opaque
secrets behind refresh tokens and API keys, which are stored only as SHA-256 digests."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import argon2
import jwt

from v100.kit.auth import Principal
from v100.kit.errors import BackendUnavailable, Unauthorized

__all__ = [
    "API_KEY_PREFIX",
    "USER_AUDIENCE",
    "AccessTokens",
    "IssuedAccessToken",
    "PasswordHasher",
    "digest",
    "new_api_key",
    "new_refresh_token",
]

# Distinct from kit.auth.INTERNAL_AUDIENCE: a user token is refused where an internal one is
# expected and the reverse, even if both secrets were configured to the same value.
USER_AUDIENCE = "v100-user"
_ISSUER = "v100-gateway"
API_KEY_PREFIX = "v100_sk_"
REFRESH_TOKEN_PREFIX = "v100_rt_"  # noqa: S105 - a public marker, not a secret


def digest(secret: str) -> str:
    """The stored form of a refresh token or API key. A plain SHA-256 is enough (no salt, no
    stretching): these secrets carry 256 random bits, unlike passwords."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


class PasswordHasher:
    """Argon2id in worker threads. Each hash takes ``memory_kib`` of RAM and tens of
    milliseconds of CPU, so it never runs on the event loop, and a semaphore bounds how many
    run at once: a burst of logins queues rather than exhausting memory."""

    def __init__(
        self, *, time_cost: int, memory_kib: int, parallelism: int, max_waiting: int = 32
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._slots = asyncio.Semaphore(max(1, os.cpu_count() or 1))
        # Past this many waiting, a hash is refused at once (503, Retry-After): a flood of
        # logins sheds quickly instead of making every login wait behind it.
        self._max_waiting = max_waiting
        self._waiting = 0
        # Verified against when the account does not exist, so an unknown email costs as much
        # time as a wrong password and response times do not reveal which addresses exist.
        # Made on first use: building the app should not cost a hash.
        self._decoy: str | None = None

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        if self._slots.locked() and self._waiting >= self._max_waiting:
            raise BackendUnavailable(
                "Too many sign-ins are being checked right now; try again shortly.",
                retry_after=1,
            )
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()

    async def hash(self, password: str) -> str:
        async with self._slot():
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        async with self._slot():
            return await asyncio.to_thread(self._verify, stored_hash, password)

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        if stored_hash is None and self._decoy is None:
            self._decoy = self._hasher.hash(secrets.token_urlsafe(16))
        try:
            matched = self._hasher.verify(stored_hash or str(self._decoy), password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False
        return matched and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other parameters than the configured ones."""
        return self._hasher.check_needs_rehash(stored_hash)


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    expires_in: int


class AccessTokens:
    """Mints and verifies user access tokens: short-lived, stateless, HS256 only."""

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        if len(secret) < 32:
            raise ValueError("the gateway JWT secret must be at least 32 characters")
        self._secret = secret
        self.ttl_seconds = ttl_seconds

    def mint(self, principal: Principal, *, now: float | None = None) -> IssuedAccessToken:
        if principal.user_id is None:
            raise ValueError("an access token is issued to a user")
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "iss": _ISSUER,
            "aud": USER_AUDIENCE,
            "iat": issued,
            "exp": issued + self.ttl_seconds,
            "jti": secrets.token_urlsafe(12),
            "sub": principal.user_id,
            "tid": principal.tenant_id,
            "scp": sorted(principal.scopes),
            "role": principal.role,
            "tier": principal.tier,
        }
        return IssuedAccessToken(
            jwt.encode(claims, self._secret, algorithm="HS256"), self.ttl_seconds
        )

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                # Only HS256: refuses alg=none and algorithm-confusion tokens.
                algorithms=["HS256"],
                audience=USER_AUDIENCE,
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "aud", "iss", "sub", "tid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The access token has expired.") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("The access token is not valid.") from exc
        scopes = claims.get("scp") or ()
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise Unauthorized("The access token is not valid.")
        return Principal(
            tenant_id=str(claims["tid"]),
            user_id=str(claims["sub"]),
            scopes=frozenset(scopes),
            tier=str(claims.get("tier") or "free"),
            role=str(claims.get("role") or "member"),
        )

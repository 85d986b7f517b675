"""Internal tokens: the gateway mints a short-lived HS256 JWT describing who is calling (tenant,
user, scopes, tier) and every service verifies it. A service never trusts a bare header."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt

from v100.kit.errors import Forbidden, Unauthorized

__all__ = ["INTERNAL_AUDIENCE", "NAMED_ONLY", "OPERATOR_TENANT_ID", "InternalTokens", "Principal"]

INTERNAL_AUDIENCE = "v100-internal"
# The tenant id the operator's credential acts as (ADR 0027): the platform's own rows, such as
# the published plans and meters, are owned by it. No tenant is ever given this id (ids are
# UUIDv7), and only a credential made on the host carries it.
OPERATOR_TENANT_ID = "00000000-0000-0000-0000-000000000000"
# Scope areas that no wildcard covers: a credential holds such a scope only when given by name.
NAMED_ONLY = ("service:", "operator:")
_ISSUER = "v100-gateway"
# Verified tokens remembered per InternalTokens (cleared when full: a burst of distinct callers).
_VERIFIED_MAX = 4096


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for, as the gateway established it."""

    tenant_id: str
    user_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    tier: str = "free"
    role: str = "member"
    api_key_id: str | None = None

    def has_scope(self, scope: str) -> bool:
        # "*" grants every tenant scope; "videos:*" every scope of one area. The platform's own
        # scopes (services calling each other, the operator) are granted only by name.
        if scope in self.scopes:
            return True
        if scope.startswith(NAMED_ONLY):
            return False
        resource = scope.split(":", 1)[0]
        return "*" in self.scopes or f"{resource}:*" in self.scopes

    def require_scope(self, scope: str) -> None:
        if not self.has_scope(scope):
            raise Forbidden(f"This credential lacks the scope {scope!r}.")


class InternalTokens:
    """Signs and verifies internal tokens with one shared secret."""

    def __init__(self, secret: str, ttl_seconds: int = 60) -> None:
        if len(secret) < 32:
            raise ValueError("the internal token secret must be at least 32 characters")
        self._secret = secret
        self._ttl = ttl_seconds
        # token -> (principal, exp). The gateway reuses a token for half its lifetime, so a
        # service sees the same one many times; checking its signature once is enough, its
        # expiry is still checked on every use.
        self._verified: dict[str, tuple[Principal, int]] = {}

    def mint(self, principal: Principal, *, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "iss": _ISSUER,
            "aud": INTERNAL_AUDIENCE,
            "iat": issued,
            "exp": issued + self._ttl,
            "tid": principal.tenant_id,
            "scp": sorted(principal.scopes),
            "tier": principal.tier,
            "role": principal.role,
            "kid": principal.api_key_id,
        }
        if principal.user_id is not None:
            # PyJWT refuses a non-string "sub": a service acting for a tenant has no user.
            claims["sub"] = principal.user_id
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> Principal:
        hit = self._verified.get(token)
        if hit is not None and hit[1] > time.time():
            return hit[0]
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=INTERNAL_AUDIENCE,
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "aud", "iss", "tid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The internal token has expired.") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("The internal token is not valid.") from exc
        principal = Principal(
            tenant_id=str(claims["tid"]),
            user_id=claims.get("sub"),
            scopes=frozenset(claims.get("scp") or ()),
            tier=str(claims.get("tier") or "free"),
            role=str(claims.get("role") or "member"),
            api_key_id=claims.get("kid"),
        )
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = (principal, int(claims["exp"]))
        return principal

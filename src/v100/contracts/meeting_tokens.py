"""Meeting tokens: what the meeting service gives a participant, and what meeting_signaling and
realtime check before they let a socket into a room (the LiveKit access token's role).

A meeting token is an HS256 JWT for one participant of one meeting, with grants and an expiry.
It is signed with a key derived from the platform's internal token secret (so every service of
the install can check it, and no tenant can make one), under its own audience: an internal
token is never a meeting token, nor the other way round.

    {"iss": "v100-meeting", "aud": "v100-meeting", "iat": ..., "exp": ..., "jti": "...",
     "tid": tenant id, "mid": meeting id, "sub": participant id, "name": "Ada",
     "role": "host", "grants": {"join": true, "publish": true, "subscribe": true,
                                "admin": true, "record": true},
     "room": "main" | breakout room id}
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt

__all__ = [
    "MAIN_ROOM",
    "MEETING_AUDIENCE",
    "MeetingGrants",
    "MeetingRole",
    "MeetingToken",
    "MeetingTokenInvalid",
    "MeetingTokens",
]

MEETING_AUDIENCE = "v100-meeting"
_ISSUER = "v100-meeting"
MeetingRole = Literal["host", "co-host", "participant", "viewer"]
# The main room's name in ``room``; a breakout room is named by its id.
MAIN_ROOM = "main"


class MeetingTokenInvalid(ValueError):
    """Forged, expired, for another audience, or missing a claim: the socket is refused."""


@dataclass(frozen=True, slots=True)
class MeetingGrants:
    join: bool = True
    publish: bool = True
    subscribe: bool = True
    admin: bool = False
    record: bool = False

    @classmethod
    def for_role(cls, role: MeetingRole) -> MeetingGrants:
        """What each role may do unless the meeting says otherwise."""
        if role in ("host", "co-host"):
            return cls(admin=True, record=True)
        if role == "viewer":
            return cls(publish=False)
        return cls()


@dataclass(frozen=True, slots=True)
class MeetingToken:
    """A checked meeting token's claims."""

    tenant_id: str
    meeting_id: str
    participant_id: str
    name: str
    role: MeetingRole
    grants: MeetingGrants
    expires_at: int
    token_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    room: str = MAIN_ROOM


class MeetingTokens:
    """Mints and checks meeting tokens with a key derived from the internal token secret."""

    def __init__(self, internal_token_secret: str) -> None:
        if len(internal_token_secret) < 32:
            raise ValueError("the internal token secret must be at least 32 characters")
        self._key = hmac.new(
            internal_token_secret.encode(), b"v100 meeting tokens", hashlib.sha256
        ).digest()

    def mint(self, token: MeetingToken, *, now: float | None = None) -> str:
        claims: dict[str, Any] = {
            "iss": _ISSUER,
            "aud": MEETING_AUDIENCE,
            "iat": int(now if now is not None else time.time()),
            "exp": token.expires_at,
            "jti": token.token_id,
            "tid": token.tenant_id,
            "mid": token.meeting_id,
            "sub": token.participant_id,
            "name": token.name,
            "role": token.role,
            "room": token.room,
            "grants": {
                "join": token.grants.join,
                "publish": token.grants.publish,
                "subscribe": token.grants.subscribe,
                "admin": token.grants.admin,
                "record": token.grants.record,
            },
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, encoded: str, *, now: float | None = None) -> MeetingToken:
        """The token's claims, or :class:`MeetingTokenInvalid` saying why not. ``now`` is the
        caller's clock (tests move it); expiry is checked against it."""
        try:
            claims = jwt.decode(
                encoded,
                self._key,
                algorithms=["HS256"],
                audience=MEETING_AUDIENCE,
                issuer=_ISSUER,
                options={
                    "require": ["exp", "iat", "aud", "iss", "tid", "mid", "sub", "jti"],
                    "verify_exp": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise MeetingTokenInvalid("The meeting token is not valid.") from exc
        moment = now if now is not None else time.time()
        if int(claims["exp"]) <= moment:
            raise MeetingTokenInvalid("The meeting token has expired.")
        grants = claims.get("grants") or {}
        role = claims.get("role")
        if role not in ("host", "co-host", "participant", "viewer") or not isinstance(grants, dict):
            raise MeetingTokenInvalid("The meeting token is not valid.")
        return MeetingToken(
            tenant_id=str(claims["tid"]),
            meeting_id=str(claims["mid"]),
            participant_id=str(claims["sub"]),
            name=str(claims.get("name") or ""),
            role=role,
            grants=MeetingGrants(
                **{
                    k: bool(grants.get(k, False))
                    for k in ("join", "publish", "subscribe", "admin", "record")
                }
            ),
            expires_at=int(claims["exp"]),
            token_id=str(claims["jti"]),
            room=str(claims.get("room") or MAIN_ROOM),
        )

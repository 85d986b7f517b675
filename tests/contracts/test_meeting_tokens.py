"""Meeting tokens (contracts.meeting_tokens): what the meeting service mints and every service
that lets a socket into a room checks. Forged, expired, another audience's, and an internal
token presented as a meeting token are all refused."""

from __future__ import annotations

import time

import jwt
import pytest

from v100.contracts.meeting_tokens import (
    MeetingGrants,
    MeetingToken,
    MeetingTokenInvalid,
    MeetingTokens,
)
from v100.kit.auth import InternalTokens, Principal

SECRET = "meeting-token-contract-secret-0123456789abcdef"

pytestmark = pytest.mark.time_sensitive


def _token(expires_in: int = 600) -> MeetingToken:
    return MeetingToken(
        tenant_id="t1", meeting_id="m1", participant_id="p1", name="Ada", role="host",
        grants=MeetingGrants.for_role("host"), expires_at=int(time.time()) + expires_in,
    )  # fmt: skip


def test_a_minted_token_verifies_with_its_claims() -> None:
    tokens = MeetingTokens(SECRET)
    token = _token()
    checked = tokens.verify(tokens.mint(token))
    assert checked == token
    assert checked.grants.admin
    assert checked.grants.record


def test_grants_by_role() -> None:
    assert not MeetingGrants.for_role("participant").admin
    assert not MeetingGrants.for_role("viewer").publish
    assert MeetingGrants.for_role("co-host").record


def test_a_forged_token_is_refused() -> None:
    other = MeetingTokens("another-install-secret-0123456789abcdef")
    with pytest.raises(MeetingTokenInvalid):
        MeetingTokens(SECRET).verify(other.mint(_token()))
    encoded = MeetingTokens(SECRET).mint(_token())
    head, body, signature = encoded.split(".")
    with pytest.raises(MeetingTokenInvalid):
        MeetingTokens(SECRET).verify(f"{head}.{body}.{signature[::-1]}")
    unsigned = jwt.encode({"aud": "v100-meeting"}, key=None, algorithm="none")
    with pytest.raises(MeetingTokenInvalid):
        MeetingTokens(SECRET).verify(unsigned)


def test_an_expired_token_is_refused_by_the_callers_clock() -> None:
    tokens = MeetingTokens(SECRET)
    token = _token(expires_in=60)
    encoded = tokens.mint(token)
    assert tokens.verify(encoded, now=token.expires_at - 1)
    with pytest.raises(MeetingTokenInvalid, match="expired"):
        tokens.verify(encoded, now=token.expires_at)


def test_another_audience_and_an_internal_token_are_not_meeting_tokens() -> None:
    tokens = MeetingTokens(SECRET)
    key = tokens._key  # the same key, another audience: still refused
    claims = {
        "iss": "v100-meeting", "aud": "v100-internal", "iat": int(time.time()),
        "exp": int(time.time()) + 60, "jti": "j", "tid": "t", "mid": "m", "sub": "p",
        "role": "host", "grants": {},
    }  # fmt: skip
    with pytest.raises(MeetingTokenInvalid):
        tokens.verify(jwt.encode(claims, key, algorithm="HS256"))
    internal = InternalTokens(SECRET).mint(
        Principal(tenant_id="t", user_id="u", scopes=frozenset({"*"}))
    )
    with pytest.raises(MeetingTokenInvalid):
        tokens.verify(internal)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 characters"):
        MeetingTokens("short")

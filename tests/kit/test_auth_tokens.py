"""Internal tokens: a verified token is remembered, yet its expiry is still checked on every use
and a token with another signature is never taken for it."""

from __future__ import annotations

import time

import pytest

from v100.kit.auth import InternalTokens, Principal
from v100.kit.errors import Unauthorized

pytestmark = pytest.mark.time_sensitive

SECRET = "secret-for-the-token-tests-0123456789abcdef"
ALICE = Principal(tenant_id="t-1", user_id="alice", scopes=frozenset({"*"}))


def test_a_remembered_token_still_expires() -> None:
    tokens = InternalTokens(SECRET, ttl_seconds=1)
    token = tokens.mint(ALICE)
    assert tokens.verify(token) == ALICE
    assert tokens.verify(token) == ALICE  # the remembered answer
    time.sleep(2.05)  # exp is whole seconds: past it for sure
    with pytest.raises(Unauthorized, match="expired"):
        tokens.verify(token)


def test_a_token_with_another_signature_is_refused_after_the_real_one() -> None:
    tokens = InternalTokens(SECRET)
    token = tokens.mint(ALICE)
    assert tokens.verify(token) == ALICE
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(Unauthorized):
        tokens.verify(forged)
    forger = InternalTokens("another-secret-0123456789abcdefghijklmno")
    with pytest.raises(Unauthorized):
        tokens.verify(forger.mint(ALICE))

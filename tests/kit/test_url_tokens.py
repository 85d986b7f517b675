"""kit.url_tokens: a token reads back under its own label and audience only, and says when it
has expired apart from when it is not valid."""

from __future__ import annotations

import pytest

from v100.kit.url_tokens import UrlToken, UrlTokenExpired, UrlTokenInvalid

FUTURE, PAST = 4_000_000_000, 1_000_000_000


def test_a_token_reads_back_with_its_claims() -> None:
    kind = UrlToken("secret", "v100 test urls", "v100-test")
    claims = kind.read(kind.sign(FUTURE, tid="t1", vid="v1"), "tid", "vid")
    assert (claims["tid"], claims["vid"], claims["exp"]) == ("t1", "v1", FUTURE)


def test_another_label_audience_or_secret_does_not_pass() -> None:
    token = UrlToken("secret", "v100 test urls", "v100-test").sign(FUTURE, tid="t1")
    for other in (
        UrlToken("secret", "v100 other urls", "v100-test"),
        UrlToken("secret", "v100 test urls", "v100-other"),
        UrlToken("another", "v100 test urls", "v100-test"),
    ):
        with pytest.raises(UrlTokenInvalid) as refused:
            other.read(token, "tid")
        assert not isinstance(refused.value, UrlTokenExpired)


def test_expired_missing_claims_and_altered_tokens_are_refused() -> None:
    kind = UrlToken("secret", "v100 test urls", "v100-test")
    with pytest.raises(UrlTokenExpired):
        kind.read(kind.sign(PAST, tid="t1"), "tid")
    with pytest.raises(UrlTokenInvalid):
        kind.read(kind.sign(FUTURE, tid="t1"), "tid", "vid")
    token = kind.sign(FUTURE, tid="t1")
    with pytest.raises(UrlTokenInvalid):
        kind.read(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), "tid")

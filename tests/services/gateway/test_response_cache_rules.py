"""The response cache's rules on their own: RFC 9111 storability and freshness, entity-tag
comparison, query normalization, the in-process tier's budget and invalidation, the entry's
byte form, and the invalidation event's payload."""

from __future__ import annotations

import pydantic
import pytest

from v100.contracts.events import CACHE_INVALIDATE, CacheInvalidation, cache_invalidation_event
from v100.kit.auth import Principal
from v100.services.gateway.edge.cache import CachedResponse, decide, etag_matches
from v100.services.gateway.edge.cache._entry import audience_of, node_of, path_nodes
from v100.services.gateway.edge.cache._l1 import MemoryTier, covered
from v100.services.gateway.edge.cache._policy import RequestView, normalized_query


def headers(**values: str) -> list[tuple[bytes, bytes]]:
    return [(k.replace("_", "-").encode(), v.encode()) for k, v in values.items()]


def storable(status: int, values: dict[str, str], *, authenticated: bool = True) -> str:
    decision = decide(
        status, headers(**values), authenticated=authenticated, max_ttl=3600, max_body=1000
    )
    return "yes" if decision.storable else decision.reason


@pytest.mark.parametrize(
    ("status", "values", "expected"),
    [
        (200, {"cache_control": "public, max-age=60"}, "yes"),
        (200, {"cache_control": "s-maxage=60"}, "yes"),
        (200, {"cache_control": "max-age=60, must-revalidate"}, "yes"),
        (200, {"cache_control": "max-age=60"}, "not-shared"),
        (200, {"cache_control": "public"}, "not-fresh"),
        (200, {"cache_control": "public, max-age=0"}, "not-fresh"),
        (200, {"cache_control": "public, max-age=abc"}, "not-fresh"),
        (200, {"cache_control": "public, max-age=60, private"}, "private"),
        (200, {"cache_control": "PUBLIC, MAX-AGE=60, No-Store"}, "no-store"),
        (200, {"cache_control": 'public, no-cache="set-cookie", max-age=5'}, "no-cache"),
        (200, {"cache_control": "public, max-age=60", "set_cookie": "a=b"}, "set-cookie"),
        (200, {"cache_control": "public, max-age=60", "vary": "Accept, *"}, "vary-star"),
        (200, {"cache_control": "public, max-age=60", "content_length": "1001"}, "too-large"),
        (200, {"cache_control": "public, max-age=60", "age": "60"}, "not-fresh"),
        (206, {"cache_control": "public, max-age=60"}, "status"),
        (500, {"cache_control": "public, max-age=60"}, "status"),
        (404, {"cache_control": "public, max-age=60"}, "yes"),
        (200, {"cache_control": "public", "expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, "not-fresh"),
        (200, {"cache_control": "public", "expires": "Fri, 01 Jan 2100 00:00:00 GMT"}, "yes"),
        (200, {"cache_control": "public", "expires": "0"}, "not-fresh"),
    ],
)
def test_storability_follows_rfc_9111_for_a_shared_cache(
    status: int, values: dict[str, str], expected: str
) -> None:
    assert storable(status, values) == expected


def test_max_age_alone_is_enough_without_credentials() -> None:
    assert storable(200, {"cache_control": "max-age=60"}, authenticated=False) == "yes"


def test_freshness_prefers_s_maxage_caps_at_the_limit_and_counts_age() -> None:
    decision = decide(
        200,
        headers(cache_control="max-age=10, s-maxage=99999", age="5", vary="b, A"),
        authenticated=True,
        max_ttl=3600,
        max_body=10,
    )
    assert decision.lifetime == 3600
    assert decision.initial_age == 5
    assert decision.vary == ("a", "b")


@pytest.mark.parametrize(
    ("header", "etag", "matches"),
    [
        (b'"a"', b'"a"', True),
        (b'W/"a"', b'"a"', True),
        (b'"a"', b'W/"a"', True),
        (b'"b", "a"', b'"a"', True),
        (b'"a,b"', b'"a"', False),
        (b'"a,b"', b'"a,b"', True),
        (b"*", b'"x"', True),
        (b'"b"', b'"a"', False),
    ],
)
def test_if_none_match_uses_weak_comparison(header: bytes, etag: bytes, matches: bool) -> None:
    assert etag_matches(header, etag) is matches


def test_queries_normalize_to_one_form() -> None:
    assert normalized_query(b"b=2&a=1") == normalized_query(b"a=%31&b=2")
    assert normalized_query(b"q=a+b") == normalized_query(b"q=a%20b")
    assert normalized_query(b"id=2&id=1") != normalized_query(b"id=1&id=2")
    assert normalized_query(b"") == ""


def test_requests_that_opt_out_or_ask_for_parts_bypass() -> None:
    assert RequestView.of(headers(cache_control="no-cache")).bypass_reason() == "request-no-cache"
    assert RequestView.of(headers(pragma="no-cache")).bypass_reason() == "request-no-cache"
    assert (
        RequestView.of(headers(cache_control="max-age=5", pragma="no-cache")).bypass_reason()
        is None
    )
    assert RequestView.of(headers(range="bytes=0-1")).bypass_reason() == "range"
    assert RequestView.of(headers(content_length="5")).bypass_reason() == "body"
    assert RequestView.of(headers(accept="*/*")).bypass_reason() is None


def test_audiences_separate_scopes_kinds_roles_and_tiers() -> None:
    key = Principal("t", "u", frozenset({"*"}), api_key_id="k")
    narrow = Principal("t", "u", frozenset({"credits:read"}), api_key_id="k")
    user = Principal("t", "u", frozenset({"*"}))
    admin = Principal("t", "u", frozenset({"*"}), role="admin")
    pro = Principal("t", "u", frozenset({"*"}), tier="pro")
    audiences = {audience_of(p) for p in (key, narrow, user, admin, pro, None)}
    assert len(audiences) == 6
    other_user = Principal("t", "u2", frozenset({"*"}))
    assert audience_of(other_user) == audience_of(user)


def test_path_levels_and_prefix_coverage() -> None:
    assert path_nodes("/v1/videos/7") == ("/", "/v1", "/v1/videos", "/v1/videos/7")
    assert node_of("/a/b/c/d/e/f/g/h/i/j") == "/a/b/c/d/e/f/g/h"
    assert covered("/v1/videos/7/clips", ["/v1/videos/7"])
    assert not covered("/v1/videos/77", ["/v1/videos/7"])
    assert covered("/anything", ["/"])


def test_memory_tier_keeps_its_budget_and_drops_by_tenant_and_prefix() -> None:
    now = [0.0]
    tier = MemoryTier(1000, clock=lambda: now[0])
    for n in range(5):
        tier.put(("k", n), n, 10, tenant="t", path=f"/v1/x/{n}", size=300)
    assert tier.bytes_used <= 1000
    assert tier.get(("k", 0)) == (None, False)  # least recently used went first
    assert tier.get(("k", 4)) == (4, False)
    tier.put(("o", 4), "other", 10, tenant="u", path="/v1/x/4", size=10)
    assert tier.drop_prefixes("t", ["/v1/x/4"]) == 1
    assert tier.get(("o", 4)) == ("other", False)
    held = len(tier)
    assert tier.drop_prefixes(None, ["/"]) == held  # every tenant
    assert len(tier) == 0
    tier.put("e", "v", 1, tenant="t", path="/", size=1)
    now[0] = 1.0
    assert tier.get("e") == (None, True)
    tier.put("big", "v", 10, tenant="t", path="/", size=1001)
    assert tier.get("big") == (None, False)


def test_an_entry_survives_its_byte_form_without_per_request_headers() -> None:
    entry = CachedResponse.build(
        200,
        [(b"etag", b'"x"'), (b"x-request-id", b"r1"), (b"age", b"3"), (b"set-x", b"\xe9")],
        b"line one\nline two",
        stored_at=100.0,
        lifetime=60,
        initial_age=3,
        vary=("accept",),
        vary_values=(None,),
        generations=(1, 0),
    )
    again = CachedResponse.from_bytes(entry.to_bytes())
    assert again == entry
    assert again.born_at == 97.0
    assert dict(again.headers) == {b"etag": b'"x"', b"set-x": b"\xe9", b"content-length": b"17"}


def test_invalidation_events_carry_validated_prefixes() -> None:
    event = cache_invalidation_event(source="video", tenant_id="t", prefixes=["/v1/videos/7/"])
    assert event.type == CACHE_INVALIDATE
    assert event.data == {"prefixes": ["/v1/videos/7"]}
    for bad in (["v1/videos"], ["/v1/videos?x=1"], []):
        with pytest.raises(pydantic.ValidationError):
            CacheInvalidation(prefixes=tuple(bad))

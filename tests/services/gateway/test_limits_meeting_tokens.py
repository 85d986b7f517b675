"""Meeting tokens on the room routes count against the limits as API keys do (ADR 0053): the
real gateway in front of the real meeting service, on in-process limits and on Redis. A flood
from one participant's token is refused 429 problem+json with Retry-After at its participant's
limit, several participants together at their tenant's (which the tenant's API key then shares),
and another tenant's participants and key go on untouched."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from v100.kit.settings import PlatformSettings
from v100.kit.testing.bus import BACKENDS, redis_url_or_skip
from v100.kit.testing.servers import serving
from v100.services.gateway.edge.limits import Quota, RateLimitSettings, RouteGroup, TierLimits
from v100.services.meeting.app import create_app as create_meeting
from v100.services.meeting.settings import MeetingSettings

from .routing_support import (
    INTERNAL_SECRET,
    PASSWORD,
    RunningGateway,
    all_upstreams,
    assert_problem,
    gateway_serving,
)

pytestmark = pytest.mark.slow

# Per minute in the meetings group: the tenant's 20 are shared by its key and its participants.
TENANT, KEY, PARTICIPANT = 20, 20, 6
LIMITS = RateLimitSettings(
    tier_source="tenant",
    tiers={
        "free": TierLimits(
            tenant=Quota(requests=TENANT),
            api_key=Quota(requests=KEY),
            participant=Quota(requests=PARTICIPANT),
            concurrent_requests=2,
        )
    },
    # Apart from the default group, so the gateway's own calls made while setting a test up
    # (sign-ups, keys) count elsewhere.
    route_groups={"meetings": RouteGroup(prefixes=("/v1/meetings",))},
    concurrency={},
)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "redis":
        monkeypatch.setenv("V100_REDIS_URL", redis_url_or_skip())
    else:
        monkeypatch.delenv("V100_REDIS_URL", raising=False)
    return str(request.param)


@asynccontextmanager
async def meetings_behind_gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    # The meeting service's own settings read no Redis: its state is its SQLite database.
    settings = MeetingSettings(
        platform=PlatformSettings(
            var_dir=tmp_path / "meeting", internal_token_secret=INTERNAL_SECRET, redis_url=None
        ),
        database_url=f"sqlite+aiosqlite:///{tmp_path}/meeting.db",
    )
    async with (
        serving(create_meeting(settings), ready=True) as meeting_url,
        gateway_serving(tmp_path, all_upstreams(meeting=meeting_url), rate_limits=LIMITS) as gw,
    ):
        yield gw


async def a_meeting(http: httpx.AsyncClient, key: dict[str, str], names: list[str]) -> list[str]:
    """A meeting made with ``key`` and a participant's token per name (1 + len(names) requests
    of the key's in the meetings group)."""
    made = await http.post(
        "/v1/meetings",
        json={"title": "Flood"},
        headers={**key, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert made.status_code == 201, made.text
    meeting_id = made.json()["id"]
    tokens = []
    for name in names:
        token = await http.post(
            f"/v1/meetings/{meeting_id}/tokens",
            json={"name": name, "role": "participant"},
            headers={**key, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert token.status_code == 201, token.text
        tokens.append(token.json()["token"])
    return [f"/v1/meetings/{meeting_id}/room", *tokens]


async def another_tenant(http: httpx.AsyncClient) -> dict[str, str]:
    signup = await http.post(
        "/v1/auth/signup",
        json={"email": f"b-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD,
              "tenant_name": "Other"},
    )  # fmt: skip
    assert signup.status_code == 201, signup.text
    owner = {"Authorization": f"Bearer {signup.json()['access_token']}"}
    key = await http.post("/v1/api-keys", json={"name": "k", "scopes": ["*"]}, headers=owner)
    assert key.status_code == 201, key.text
    return {"X-API-Key": key.json()["key"]}


async def flood(http: httpx.AsyncClient, room: str, token: str, n: int) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {token}"}
    return [await http.get(room, headers=headers) for _ in range(n)]


async def test_a_meeting_token_flood_is_limited_and_starves_no_other_tenant(
    backend: str, tmp_path: Path
) -> None:
    async with meetings_behind_gateway(tmp_path) as gateway, gateway.client(timeout=60) as http:
        room, ada, bob, cy = await a_meeting(http, gateway.headers, ["Ada", "Bob", "Cy"])
        spent = 4  # the key's: the meeting and three tokens

        # One participant: its own limit first.
        answers = await flood(http, room, ada, PARTICIPANT + 2)
        assert [a.status_code for a in answers] == [200] * PARTICIPANT + [429] * 2
        assert answers[0].headers["ratelimit-limit"] == str(PARTICIPANT)
        policy = answers[0].headers["ratelimit-policy"]
        assert f'{TENANT};w=60;name="tenant";group="meetings"' in policy
        assert f'{PARTICIPANT};w=60;name="participant";group="meetings"' in policy
        denied = answers[-1]
        body = assert_problem(denied, 429, "rate-limited")
        assert body["limit"] == "participant"
        assert body["route_group"] == "meetings"
        # The next request's slot: one emission interval away, less the time the flood took
        # (the limiter runs on real time; a loaded machine spends a second or more on it).
        assert 0 < int(denied.headers["retry-after"]) <= 60 // PARTICIPANT
        spent += PARTICIPANT

        # Another participant of the same tenant has a limit of its own...
        assert [a.status_code for a in await flood(http, room, bob, PARTICIPANT)] == [200] * 6
        spent += PARTICIPANT
        # ...but the tenant's is shared: what is left of it, then the tenant's 429.
        left = TENANT - spent
        answers = await flood(http, room, cy, left + 1)
        assert [a.status_code for a in answers] == [200] * left + [429]
        assert assert_problem(answers[-1], 429, "rate-limited")["limit"] == "tenant"
        assert "retry-after" in answers[-1].headers
        # The tenant's own API key is held to the same tenant bucket.
        keyed = await http.get(room.removesuffix("/room"), headers=gateway.headers)
        assert keyed.status_code == 429
        assert keyed.json()["limit"] == "tenant"

        # Another tenant, its key and its participant: untouched by the first one's flood.
        other = await another_tenant(http)
        other_room, dee = await a_meeting(http, other, ["Dee"])
        answers = await flood(http, other_room, dee, PARTICIPANT)
        assert [a.status_code for a in answers] == [200] * PARTICIPANT
        assert answers[-1].headers["ratelimit-remaining"] == "0"
        seen = await http.get(other_room.removesuffix("/room"), headers=other)
        assert seen.status_code == 200, seen.text


async def test_a_refused_meeting_token_costs_its_tenant_nothing(tmp_path: Path) -> None:
    """Refused by the participant's limit, a request is recorded in no bucket (GCRA: all or
    none), so one participant's flood cannot spend its tenant's quota past its own."""
    async with meetings_behind_gateway(tmp_path) as gateway, gateway.client(timeout=60) as http:
        room, ada = await a_meeting(http, gateway.headers, ["Ada"])
        answers = await flood(http, room, ada, PARTICIPANT + 30)
        assert [a.status_code for a in answers].count(200) == PARTICIPANT
        # The tenant spent 2 (meeting, token) + PARTICIPANT: the rest is still there.
        answer = await http.get(room.removesuffix("/room"), headers=gateway.headers)
        assert answer.status_code == 200
        assert answer.headers["ratelimit-policy"].startswith(f'{TENANT};w=60;name="tenant"')
        # The tenant binds (fewer left than the key's 20 - 3): the participant's 6, no more.
        assert answer.headers["ratelimit-remaining"] == str(TENANT - 2 - PARTICIPANT - 1)

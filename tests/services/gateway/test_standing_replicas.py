"""Two gateway replicas on one database: a member demoted or removed through one loses the power
on the other within ``member_cache_seconds`` (standing.py), whatever token they hold; the one
that made the change applies it at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from v100.kit.testing.http import running_app
from v100.services.gateway.app import create_app
from v100.services.gateway.testing import Gateway, gateway_settings_for

CACHE_SECONDS = 1.0
MEMBERS = "/v1/tenants/current/members"


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[tuple[Gateway, Gateway]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
    async with AsyncExitStack() as stack:
        pair = []
        for name in ("a", "b"):
            # Both sign with the same JWT secret (gateway_settings_for's), as replicas do.
            settings = gateway_settings_for(
                url, tmp_path / name, member_cache_seconds=CACHE_SECONDS
            )
            app = create_app(settings)
            http = await stack.enter_async_context(running_app(app))
            pair.append(Gateway(app=app, http=http, settings=settings))
        yield pair[0], pair[1]


async def _within(check: Callable[[], Awaitable[bool]], seconds: float) -> float:
    """How long until ``check()`` is true; fails past ``seconds``."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < seconds, "not within the bound"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_a_demotion_and_a_removal_reach_the_other_replica_within_the_cache_time(
    replicas: tuple[Gateway, Gateway],
) -> None:
    a, b = replicas
    owner = await a.signup()
    admin = await a.add_member(owner.headers, role="admin")
    # Replica b has seen the admin act as an admin (its standing is cached there).
    assert (await b.http.get("/v1/api-keys", headers=admin.headers)).status_code == 200

    demoted = await a.http.patch(
        f"{MEMBERS}/{admin.user_id}", json={"role": "member"}, headers=owner.headers
    )
    assert demoted.status_code == 200
    # At once on a, within the cache time on b.
    assert (await a.http.get("/v1/api-keys", headers=admin.headers)).status_code == 403

    async def refused_on_b() -> bool:
        return (await b.http.get("/v1/api-keys", headers=admin.headers)).status_code == 403

    # The bound is the cache time; the margin is for a loaded machine's slow requests.
    took = await _within(refused_on_b, CACHE_SECONDS + 5)
    assert took <= CACHE_SECONDS + 2, took

    removed = await a.http.delete(f"{MEMBERS}/{admin.user_id}", headers=owner.headers)
    assert removed.status_code == 200

    async def gone_on_b() -> bool:
        return (await b.http.get("/v1/tenants/current", headers=admin.headers)).status_code == 401

    await _within(gone_on_b, CACHE_SECONDS + 5)

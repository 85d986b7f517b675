"""The password and refresh-token routes' own limits (auth_throttle.py): per account and per client
address, 429 with Retry-After, whatever the password; and the password-hashing queue, which
sheds a flood at once (503) instead of making every login wait behind it. Before, none of these
routes had a limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from v100.kit.errors import BackendUnavailable
from v100.kit.testing.http import running_app
from v100.services.gateway.app import create_app
from v100.services.gateway.identity.credentials import PasswordHasher
from v100.services.gateway.testing import (
    PASSWORD,
    Gateway,
    assert_problem,
    gateway_settings_for,
    unique_email,
)

pytestmark = pytest.mark.time_sensitive

GatewayFactory = Callable[..., Any]


@pytest.fixture
def throttled(tmp_path: Path) -> GatewayFactory:
    @asynccontextmanager
    async def start(**limits: int) -> AsyncIterator[Gateway]:
        url = f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
        settings = gateway_settings_for(url, tmp_path, **limits)
        app = create_app(settings)
        async with running_app(app) as http:
            yield Gateway(app=app, http=http, settings=settings)

    return start


WRONG = "not the password at all"


def _login(gateway: Gateway, email: str, password: str = WRONG) -> Any:
    return gateway.http.post("/v1/auth/login", json={"email": email, "password": password})


def _limited(response: httpx.Response) -> int:
    assert_problem(response, 429, "rate-limited")
    return int(response.headers["retry-after"])


async def test_guessing_one_accounts_password_is_limited(throttled: GatewayFactory) -> None:
    async with throttled(login_per_account_per_minute=3) as gateway:
        victim = await gateway.signup()
        for _ in range(3):
            assert_problem(await _login(gateway, victim.email), 401, "unauthorized")
        # Even the right password waits now: the limit counts attempts, not failures.
        assert 1 <= _limited(await _login(gateway, victim.email, PASSWORD)) <= 60
        # The address may still sign in to another account.
        other = await gateway.signup()
        assert (await _login(gateway, other.email, PASSWORD)).status_code == 200


async def test_one_address_trying_many_accounts_is_limited(throttled: GatewayFactory) -> None:
    async with throttled(login_per_address_per_minute=4) as gateway:
        for _ in range(4):
            assert_problem(await _login(gateway, unique_email()), 401, "unauthorized")
        _limited(await _login(gateway, unique_email()))


async def test_sign_ups_and_refreshes_per_address(throttled: GatewayFactory) -> None:
    async with throttled(signup_per_address_per_hour=2, refresh_per_address_per_minute=2) as g:
        first = await g.signup()
        await g.signup()
        body = {"email": unique_email(), "password": PASSWORD, "tenant_name": "Third"}
        assert _limited(await g.http.post("/v1/auth/signup", json=body)) > 60  # hourly
        for _ in range(2):
            answer = await g.http.post("/v1/auth/refresh", json={"refresh_token": "nope"})
            assert_problem(answer, 401, "unauthorized")
        _limited(await g.http.post("/v1/auth/refresh", json={"refresh_token": first.refresh_token}))


async def test_a_flood_of_password_checks_is_shed_at_once() -> None:
    # Costly enough that a check takes a while on these machines (tens of ms each).
    hasher = PasswordHasher(time_cost=3, memory_kib=32 * 1024, parallelism=1, max_waiting=2)
    stored = await hasher.hash("correct horse battery staple")

    async def check() -> tuple[str, float]:
        started = time.perf_counter()
        try:
            await hasher.verify(stored, "correct horse battery staple")
        except BackendUnavailable as exc:
            return f"shed:{exc.retry_after}", time.perf_counter() - started
        return "checked", time.perf_counter() - started

    results = await asyncio.gather(*(check() for _ in range(20)))
    checked = [took for outcome, took in results if outcome == "checked"]
    shed = [took for outcome, took in results if outcome == "shed:1"]  # Retry-After: 1
    # The hashing slots (one per core) and the 2 waiting are served; the rest are turned away
    # without waiting for any hash.
    assert 3 <= len(checked) <= 4, results
    assert len(shed) == 20 - len(checked)
    assert max(shed) < min(checked), results


async def test_the_address_is_the_peer_unless_a_trusted_proxy_names_another(
    throttled: GatewayFactory,
) -> None:
    spoofed = {"X-Forwarded-For": "198.51.100.1"}
    async with throttled(login_per_address_per_minute=2) as gateway:
        for _ in range(2):
            await _login(gateway, unique_email())
        # A caller cannot escape its limit by naming another address.
        answer = await gateway.http.post(
            "/v1/auth/login",
            json={"email": unique_email(), "password": WRONG},
            headers=spoofed,
        )
        _limited(answer)
    # Behind the operator's proxy (the test client's peer address), each client is its own.
    async with throttled(
        login_per_address_per_minute=2, trusted_proxies=["127.0.0.0/8"]
    ) as gateway:
        for n in range(3):
            answer = await gateway.http.post(
                "/v1/auth/login",
                json={"email": unique_email(), "password": WRONG},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
            )
            assert_problem(answer, 401, "unauthorized")

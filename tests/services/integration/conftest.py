"""Fixtures for integration's tests: ``deploy`` runs the real app (real migrations, its intake
and dispatcher loops) behind an in-process ASGI client, embedded (SQLite, in-process bus) and
distributed (PostgreSQL, Redis); ``receiver`` is a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from v100.kit.db import drop_database
from v100.kit.settings import PlatformSettings
from v100.kit.testing.bus import redis_url_or_skip
from v100.kit.testing.db import POSTGRES_URL_ENV, fresh_postgres_url, postgres_admin_url
from v100.kit.testing.http import running_app
from v100.services.integration.app import create_app
from v100.services.integration.settings import IntegrationSettings

from .integration_support import INTERNAL_SECRET, Deployment, Receiver, receiving

STACKS = ["embedded", "distributed"]


@dataclass(frozen=True)
class Stack:
    name: str
    platform: dict[str, Any]
    database_url: str


@pytest.fixture(params=STACKS)
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    if request.param == "embedded":
        yield Stack("embedded", {}, f"sqlite+aiosqlite:///{tmp_path}/integration.db")
        return
    redis_url = redis_url_or_skip()
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set (scripts/services/postgres.sh start)")
    database_url = fresh_postgres_url(admin_url)
    try:
        yield Stack("distributed", {"redis_url": redis_url}, database_url)
    finally:
        await drop_database(database_url)


# Fast retries by default; a test that needs Svix's schedule (or the clock) says so.
FAST = {
    "allow_loopback_receivers": True,
    "consume_from_start": False,
    "retry_schedule_seconds": (0, 0.05, 0.05),
    "retry_jitter_ratio": 0.0,
    "dispatch_poll_seconds": 0.05,
    "attempt_timeout_seconds": 5.0,
}


def settings_for(stack: Stack, tmp_path: Path, **overrides: Any) -> IntegrationSettings:
    platform = PlatformSettings(
        var_dir=tmp_path, internal_token_secret=INTERNAL_SECRET, **stack.platform
    )
    values = {**FAST, "consumer_group": f"integration-test-{uuid.uuid4().hex[:12]}", **overrides}
    return IntegrationSettings(platform=platform, database_url=stack.database_url, **values)


Deploy = Callable[..., contextlib.AbstractAsyncContextManager[Deployment]]


@pytest.fixture
def deploy(stack: Stack, tmp_path: Path) -> Deploy:
    """``async with deploy(**settings) as service:`` the service on this test's stack."""

    @contextlib.asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[Deployment]:
        settings = settings_for(stack, tmp_path, **overrides)
        app = create_app(settings)
        async with running_app(app) as http:
            yield Deployment(app=app, http=http, settings=settings, stack=stack.name)

    return run


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as receiver:
        yield receiver

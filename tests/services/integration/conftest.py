"""Fixtures for integration's tests: ``deploy`` runs the real app (real migrations, its intake
and dispatcher loops) behind an in-process ASGI client, embedded (SQLite, in-process bus) and
distributed (PostgreSQL, Redis); ``module_deploy`` the same for a module's tests that share one
app per stack (tests of what a request is refused for, which leave nothing behind; they run on
the module's loop: ``pytest.mark.asyncio(loop_scope="module")``); ``receiver`` is a real HTTP
server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

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
ModuleDeploy = Callable[..., Awaitable[Deployment]]


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


@pytest.fixture(scope="module", params=STACKS)
def module_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """``stack`` for a whole module (synchronous: the database is dropped on a loop of its own
    after the module's apps, which live on the module's loop, have stopped)."""
    if request.param == "embedded":
        directory = tmp_path_factory.mktemp("integration")
        yield Stack("embedded", {}, f"sqlite+aiosqlite:///{directory}/integration.db")
        return
    redis_url = redis_url_or_skip()
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set (scripts/services/postgres.sh start)")
    database_url = fresh_postgres_url(admin_url)
    try:
        yield Stack("distributed", {"redis_url": redis_url}, database_url)
    finally:
        asyncio.run(drop_database(database_url))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_deploy(
    module_stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ModuleDeploy]:
    """``await module_deploy(**settings)``: the module's app on this stack with these settings,
    started on first use and kept until the module ends."""
    directory = tmp_path_factory.mktemp("integration-var")
    running: dict[str, Deployment] = {}
    async with contextlib.AsyncExitStack() as apps:

        async def deployed(**overrides: Any) -> Deployment:
            key = repr(sorted(overrides.items()))
            if key not in running:
                settings = settings_for(module_stack, directory, **overrides)
                app = create_app(settings)
                http = await apps.enter_async_context(running_app(app))
                running[key] = Deployment(
                    app=app, http=http, settings=settings, stack=module_stack.name
                )
            return running[key]

        yield deployed


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as receiver:
        yield receiver

"""Fixtures for the billing engine's tests: ``engine_app`` runs the real app (real migrations,
real middleware) on SQLite and on a fresh PostgreSQL database (``module_engine_app`` one per
module and backend, for tests that leave nothing behind); ``tenant`` sends requests as one
tenant with a real internal token; ``synced`` is the app with Stripe on, against the local fake
Stripe (real HTTP, the official SDK)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import SecretStr

from v100.kit.settings import PlatformSettings
from v100.kit.testing.fakes.stripe import FakeStripe
from v100.kit.testing.http import running_app
from v100.kit.testing.servers import serving
from v100.services.billing_engine.app import create_app
from v100.services.billing_engine.settings import BillingEngineSettings
from v100.services.billing_engine.stripe_api import WEBHOOK_PATH

from .support import INTERNAL_SECRET, WEBHOOK_SECRET, EngineApp, Tenant


@pytest.fixture
def engine_settings(database_url: str, tmp_path: Path) -> BillingEngineSettings:
    # The tests run the invoicing by hand, at dates of their choosing: the app's own schedule
    # (every 5 minutes, at the real date) would race them.
    platform = PlatformSettings(
        var_dir=tmp_path, internal_token_secret=INTERNAL_SECRET, run_schedules=False
    )
    return BillingEngineSettings(platform=platform, database_url=database_url)


@pytest.fixture
async def engine_app(engine_settings: BillingEngineSettings) -> AsyncIterator[EngineApp]:
    app = create_app(engine_settings)
    async with running_app(app) as http:
        yield EngineApp(app=app, http=http, settings=engine_settings)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_engine_app(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[EngineApp]:
    """``engine_app`` shared by a module's tests on each backend, for tests that leave nothing
    behind (refused requests): they run on the module's loop
    (``pytest.mark.asyncio(loop_scope="module")``). The operator's catalogue is global, so a
    test that makes plans or meters takes ``engine_app``, a database of its own."""
    platform = PlatformSettings(
        var_dir=tmp_path_factory.mktemp("billing-engine"),
        internal_token_secret=INTERNAL_SECRET,
        run_schedules=False,
    )
    settings = BillingEngineSettings(platform=platform, database_url=module_database_url)
    app = create_app(settings)
    async with running_app(app) as http:
        yield EngineApp(app=app, http=http, settings=settings)


@pytest.fixture
def tenant(engine_app: EngineApp) -> Tenant:
    return engine_app.tenant()


@pytest.fixture
async def synced(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[EngineApp, FakeStripe]]:
    fake = FakeStripe(webhook_secret=WEBHOOK_SECRET)
    async with serving(fake.app) as base_url:
        settings = BillingEngineSettings(
            platform=PlatformSettings(  # invoicing runs by hand here, not on the schedule
                var_dir=tmp_path, internal_token_secret=INTERNAL_SECRET, run_schedules=False
            ),
            database_url=database_url,
            stripe_api_key=SecretStr("sk_test_engine"),
            stripe_webhook_secret=SecretStr(WEBHOOK_SECRET),
            stripe_api_base=base_url,
        )
        app = create_app(settings)
        async with running_app(app) as http:
            fake.webhook_client, fake.webhook_url = http, WEBHOOK_PATH
            yield EngineApp(app=app, http=http, settings=settings), fake

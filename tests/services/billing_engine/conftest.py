"""Fixtures for the billing engine's tests: ``engine_app`` runs the real app (real migrations,
real middleware) on SQLite and on a fresh PostgreSQL database; ``tenant`` sends requests as one
tenant with a real internal token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from billing_engine_support import INTERNAL_SECRET, EngineApp, Tenant

from v100.kit.settings import PlatformSettings
from v100.kit.testing.http import running_app
from v100.services.billing_engine.app import create_app
from v100.services.billing_engine.settings import BillingEngineSettings


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


@pytest.fixture
def tenant(engine_app: EngineApp) -> Tenant:
    return engine_app.tenant()

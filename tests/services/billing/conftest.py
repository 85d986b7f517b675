"""Fixtures for billing's tests: ``billing`` runs the real app (real migrations, real
middleware) on SQLite and on a fresh PostgreSQL database, one per module and backend, shared by
the module's tests (marked ``pytest.mark.asyncio(loop_scope="module")``: they run on the loop
the app's lifespan, its engine and its jobs live on) and kept apart by tenant, each test
working for tenants of its own (``new_tenant``). A test that needs settings or a database of
its own builds its own app (``database_url``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from v100.kit.settings import PlatformSettings
from v100.kit.testing.http import running_app
from v100.services.billing.app import create_app
from v100.services.billing.settings import BillingSettings

from .support import INTERNAL_SECRET, Billing


@pytest.fixture(scope="module")
def billing_settings(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> BillingSettings:
    platform = PlatformSettings(
        var_dir=tmp_path_factory.mktemp("billing"), internal_token_secret=INTERNAL_SECRET
    )
    return BillingSettings(platform=platform, database_url=module_database_url)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def billing(billing_settings: BillingSettings) -> AsyncIterator[Billing]:
    app = create_app(billing_settings)
    async with running_app(app) as http:
        yield Billing(app=app, http=http, settings=billing_settings)

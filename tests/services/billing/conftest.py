"""Fixtures for billing's tests: ``billing`` runs the real app (real migrations, real
middleware) on SQLite and on a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from v100.kit.settings import PlatformSettings
from v100.kit.testing.http import running_app
from v100.services.billing.app import create_app
from v100.services.billing.settings import BillingSettings

from .support import INTERNAL_SECRET, Billing


@pytest.fixture
def billing_settings(database_url: str, tmp_path: Path) -> BillingSettings:
    platform = PlatformSettings(var_dir=tmp_path, internal_token_secret=INTERNAL_SECRET)
    return BillingSettings(platform=platform, database_url=database_url)


@pytest.fixture
async def billing(billing_settings: BillingSettings) -> AsyncIterator[Billing]:
    app = create_app(billing_settings)
    async with running_app(app) as http:
        yield Billing(app=app, http=http, settings=billing_settings)

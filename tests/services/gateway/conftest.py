"""Fixtures for the gateway's tests: ``gateway`` runs the real app (real migrations, real
middleware) on SQLite and on a fresh PostgreSQL database; the helpers it returns live in
``v100.services.gateway.testing``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from v100.kit.testing.http import running_app
from v100.services.gateway.app import create_app
from v100.services.gateway.settings import GatewaySettings
from v100.services.gateway.testing import Gateway, gateway_settings_for


@pytest.fixture
def gateway_settings(database_url: str, tmp_path: Path) -> GatewaySettings:
    return gateway_settings_for(database_url, tmp_path)


@pytest.fixture
async def gateway(gateway_settings: GatewaySettings) -> AsyncIterator[Gateway]:
    app = create_app(gateway_settings)
    async with running_app(app) as http:
        yield Gateway(app=app, http=http, settings=gateway_settings)

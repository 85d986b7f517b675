"""Fixtures for the gateway's tests: ``gateway`` runs the real app (real migrations, real
middleware) on SQLite and on a fresh PostgreSQL database, one per module and backend, shared by
the module's tests (marked ``pytest.mark.asyncio(loop_scope="module")``: they run on the loop
the app's lifespan, its engine and tasks, live on) and kept apart by tenant,
each test signing up tenants of its own; the helpers it returns live in
``v100.services.gateway.testing``. A test that needs settings or a database of its own builds
its own app (``gateway_settings_for``, ``database_url``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from v100.kit.testing.http import running_app
from v100.services.gateway.app import create_app
from v100.services.gateway.testing import Gateway, gateway_settings_for


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Gateway]:
    settings = gateway_settings_for(module_database_url, tmp_path_factory.mktemp("gateway"))
    app = create_app(settings)
    async with running_app(app) as http:
        yield Gateway(app=app, http=http, settings=settings)

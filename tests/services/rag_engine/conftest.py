"""Fixtures for rag_engine's tests: the real app (real migrations, middleware, jobs, the local
MiniLM embedder) on SQLite with sqlite-vec and local disk ("embedded") and on PostgreSQL with
pgvector and S3 ("distributed"), next to the session's real billing app so credit holds are
real. ``rag`` is one app per test; ``shared_rag`` one per module and backend, for modules whose
tests stay apart by tenant (marked ``pytest.mark.asyncio(loop_scope="module")``: the app's
lifespan, engine and jobs live on the module's loop), so the database is made and migrated and
MiniLM loaded once per module rather than per test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.support.billed import BACKENDS, Backend, SharedBilling, billed_backend
from v100.kit.testing.http import running_app
from v100.services.rag_engine.app import create_app
from v100.services.rag_engine.settings import RagEngineSettings

from .support import INTERNAL_SECRET, RagApp


@pytest.fixture
def internal_secret() -> str:
    return INTERNAL_SECRET


@pytest.fixture
def rag_settings(backend: Backend, billing_url: str) -> RagEngineSettings:
    return RagEngineSettings(platform=backend.platform, billing_url=billing_url)


@pytest.fixture
async def rag(rag_settings: RagEngineSettings) -> AsyncIterator[RagApp]:
    app = create_app(rag_settings)
    async with running_app(app) as http:
        yield RagApp(app=app, http=http, settings=rag_settings)


@contextlib.asynccontextmanager
async def module_app(
    backend_name: str, var_dir: Path, shared_billing: SharedBilling, **overrides: Any
) -> AsyncIterator[RagApp]:
    """A module's app on a backend of its own (``overrides``: settings of the module's own)."""
    async with billed_backend(backend_name, INTERNAL_SECRET, var_dir) as backend:
        settings = RagEngineSettings(
            platform=backend.platform, billing_url=shared_billing.url(backend), **overrides
        )
        app = create_app(settings)
        async with running_app(app) as http:
            yield RagApp(app=app, http=http, settings=settings)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def shared_rag(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_billing: SharedBilling,
) -> AsyncIterator[RagApp]:
    """The app of ``rag``, one per module and backend (the test ids are the same:
    ``[embedded]``, ``[distributed]``); each test works for tenants of its own."""
    async with module_app(request.param, tmp_path_factory.mktemp("rag"), shared_billing) as app:
        yield app

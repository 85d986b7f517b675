"""Fixtures for rag_engine's tests: the real app (real migrations, middleware, jobs, the local
MiniLM embedder) on SQLite with sqlite-vec and local disk ("embedded") and on PostgreSQL with
pgvector and S3 ("distributed"), next to the session's real billing app so credit holds are
real."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.billed import Backend
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

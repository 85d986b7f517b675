"""Builds the rag_engine app: knowledge bases' collections for ai_orchestration
(service:rag), documents under /v1/documents (from JSON content or an uploaded file, ingested
by a job), /v1/search and /v1/rag, re-embeddings for the platform's services
(/v1/reembeddings), its jobs, and the embedding and chat models closed at shutdown."""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from v100.kit.http import DatabaseSpec, Runtime, ServiceSpec, StorageSpec, create_service_app
from v100.kit.jobs import running_jobs
from v100.services.rag_engine import tasks
from v100.services.rag_engine.chat_model import CHAT_MODELS
from v100.services.rag_engine.collections_api import collections_router
from v100.services.rag_engine.documents_api import BODY_LIMITS, documents_router
from v100.services.rag_engine.embedders import EMBEDDERS
from v100.services.rag_engine.models import Base
from v100.services.rag_engine.reembedding_api import reembedding_router
from v100.services.rag_engine.resources import RESOURCES
from v100.services.rag_engine.search_api import search_router
from v100.services.rag_engine.settings import RagEngineSettings as Settings

DATABASE = DatabaseSpec(Base.metadata, Path(__file__).parent / "migrations")


@contextlib.asynccontextmanager
async def _models(runtime: Runtime) -> AsyncIterator[None]:
    """The embedding and chat models made in this process (their threads, their clients) go
    with it."""
    try:
        yield
    finally:
        await EMBEDDERS.aclose()
        await CHAT_MODELS.aclose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    lease = settings.job_lease_seconds
    return create_service_app(
        ServiceSpec(
            settings,
            title="V100 rag_engine",
            description="Documents ingested into knowledge bases (text, Markdown, HTML, PDF), "
            "searched by vector, full text or both, and questions answered with citations.",
            # The collections' fixed path before the documents' /{document_id}.
            routers=[collections_router, documents_router, search_router, reembedding_router],
            database=DATABASE,
            # Sources are kept while their job needs them; no links out.
            storage=StorageSpec(),
            body_limits=BODY_LIMITS,
            components=[
                _models,
                RESOURCES.installed(settings),
                running_jobs(tasks.jobs, lease_seconds=lease, sweep_interval=min(15.0, lease / 2)),
            ],
        )
    )

"""rag_engine's routes for re-embedding a knowledge base into another embedding model (ADR
0047), under the platform scope ``service:rag`` that no tenant credential can hold
(``contracts/rag.py`` is their client: ai_orchestration's knowledge bases call it; the tenant
is the internal token's). Thin: parse, call ``reembedding``, shape."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import JSONResponse

from v100.contracts.rag import REEMBEDDINGS_PATH, ReembeddingInfo, ReembeddingRequest
from v100.kit.auth import Principal
from v100.kit.db import unit_of_work, writers_turn
from v100.kit.http import Authorized, SessionDep
from v100.services.rag_engine import reembedding
from v100.services.rag_engine.deps import ServiceDep, SettingsDep
from v100.services.rag_engine.models import Reembedding

__all__ = ["reembedding_router"]

ServiceRag = Annotated[Principal, Depends(Authorized("service:rag"))]

reembedding_router = APIRouter(prefix=REEMBEDDINGS_PATH, tags=["re-embeddings (platform)"])


def reembedding_info(row: Reembedding) -> ReembeddingInfo:
    return ReembeddingInfo(
        id=row.id, knowledge_base_id=row.knowledge_base_id, from_model=row.from_model,
        to_model=row.to_model, dimension=row.dimension, status=row.status,
        passage_count=row.passage_count, embedded_count=row.embedded_count,
        token_count=row.token_count, credits_charged=row.credits_charged, error=row.error,
        error_detail=row.error_detail, created_at=row.created_at, started_at=row.started_at,
        finished_at=row.finished_at,
    )  # fmt: skip


@reembedding_router.post("", status_code=202, response_model=ReembeddingInfo)
async def start_reembedding(
    body: ReembeddingRequest, principal: ServiceRag, service: ServiceDep, settings: SettingsDep
) -> JSONResponse:
    """Embed a knowledge base again with another model; it switches once every passage is."""
    async with writers_turn(service.sessions), unit_of_work(service.sessions) as session:
        row = await reembedding.request(
            session, settings, principal.tenant_id, body.knowledge_base_id, body.embedding_model
        )
        info = reembedding_info(row)
    return JSONResponse(info.model_dump(mode="json"), status_code=202)


@reembedding_router.get("/{reembedding_id}", response_model=ReembeddingInfo)
async def get_reembedding(
    reembedding_id: str, principal: ServiceRag, session: SessionDep
) -> ReembeddingInfo:
    """A re-embedding as it stands: its status and how many passages are embedded."""
    return reembedding_info(await reembedding.get(session, principal.tenant_id, reembedding_id))

"""What rag_engine's endpoints are given, typed: its settings, its ``DocumentService`` and its
``Searcher``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.errors import BackendUnavailable
from v100.kit.http import RuntimeDep, SettingsOf
from v100.services.rag_engine.retrieval import Searcher
from v100.services.rag_engine.service import DocumentService
from v100.services.rag_engine.settings import RagEngineSettings

__all__ = ["SearcherDep", "ServiceDep", "SettingsDep"]

SettingsDep = Annotated[RagEngineSettings, Depends(SettingsOf(RagEngineSettings))]


async def get_service(runtime: RuntimeDep, settings: SettingsDep) -> DocumentService:
    if runtime.sessions is None or runtime.storage is None:
        raise BackendUnavailable("rag_engine is not ready yet.", retry_after=1)
    return DocumentService(runtime.sessions, runtime.storage, settings)


def get_searcher(settings: SettingsDep) -> Searcher:
    return Searcher(settings)


ServiceDep = Annotated[DocumentService, Depends(get_service)]
SearcherDep = Annotated[Searcher, Depends(get_searcher)]

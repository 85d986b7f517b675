"""What rag_engine's endpoints are given, typed: its settings, its ``DocumentService`` and its
``Searcher`` and the LLM's ``Synthesizer`` (when one is configured)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from v100.kit.errors import BackendUnavailable
from v100.kit.http import RuntimeDep, SettingsOf
from v100.services.rag_engine.chat_model import CHAT_MODELS
from v100.services.rag_engine.resources import RESOURCES
from v100.services.rag_engine.retrieval import Searcher
from v100.services.rag_engine.service import DocumentService
from v100.services.rag_engine.settings import RagEngineSettings
from v100.services.rag_engine.synthesis import Synthesizer

__all__ = ["SearcherDep", "ServiceDep", "SettingsDep", "SynthesizerDep"]

SettingsDep = Annotated[RagEngineSettings, Depends(SettingsOf(RagEngineSettings))]


async def get_service(runtime: RuntimeDep, settings: SettingsDep) -> DocumentService:
    if runtime.sessions is None or runtime.storage is None:
        raise BackendUnavailable("rag_engine is not ready yet.", retry_after=1)
    return DocumentService(runtime.sessions, runtime.storage, settings)


def get_searcher(settings: SettingsDep) -> Searcher:
    return Searcher(settings)


async def get_synthesizer(settings: SettingsDep) -> Synthesizer | None:
    """The LLM writer of answers; None when no provider is configured (extractive answers)."""
    model = CHAT_MODELS.get(settings)
    if model is None:
        return None
    return Synthesizer(model, settings, (await RESOURCES.current()).billing)


ServiceDep = Annotated[DocumentService, Depends(get_service)]
SearcherDep = Annotated[Searcher, Depends(get_searcher)]
SynthesizerDep = Annotated[Synthesizer | None, Depends(get_synthesizer)]

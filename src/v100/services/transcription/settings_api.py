"""The tenant's transcription settings at ``/v1/transcription/settings``: read them
(``transcripts:read``), replace them (``transcripts:write``). Today: automatic transcripts of
the tenant's videos, with their language and backend. Each tenant sees and changes only its
own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from v100.kit.auth import Principal
from v100.kit.http import Authorized, SessionDep
from v100.services.transcription.deps import ServiceDep
from v100.services.transcription.models import TenantSettings
from v100.services.transcription.schemas import TranscriptionSettingsIn, TranscriptionSettingsOut

__all__ = ["settings_router"]

TranscriptsRead = Annotated[Principal, Depends(Authorized("transcripts:read"))]
TranscriptsWrite = Annotated[Principal, Depends(Authorized("transcripts:write"))]

settings_router = APIRouter(prefix="/v1/transcription", tags=["transcription settings"])


def _out(row: TenantSettings) -> TranscriptionSettingsOut:
    return TranscriptionSettingsOut(
        auto_transcribe_videos=row.auto_transcribe_videos,
        auto_language=row.auto_language,
        auto_backend=row.auto_backend,
        updated_at=row.updated_at,
    )


@settings_router.get("/settings", response_model=TranscriptionSettingsOut)
async def get_settings(
    principal: TranscriptsRead, service: ServiceDep, session: SessionDep
) -> TranscriptionSettingsOut:
    """The tenant's transcription settings (the defaults until first set)."""
    return _out(await service.tenant_settings(session, principal.tenant_id))


@settings_router.put("/settings", response_model=TranscriptionSettingsOut)
async def put_settings(
    body: TranscriptionSettingsIn,
    principal: TranscriptsWrite,
    service: ServiceDep,
    session: SessionDep,
) -> TranscriptionSettingsOut:
    """Replace the tenant's transcription settings."""
    row = await service.set_tenant_settings(
        session, principal.tenant_id, auto_transcribe_videos=body.auto_transcribe_videos,
        auto_language=body.auto_language, auto_backend=body.auto_backend,
    )  # fmt: skip
    return _out(row)

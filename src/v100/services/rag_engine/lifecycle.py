"""A document's state machine, its moves and their announcements:

    queued ──job starts──▶ parsing ──chunks made──▶ embedding ──passages stored──▶ ready
       │                     │                         │
       └─────────────────────┴─────────────────────────┴──bad input, credits, attempts──▶ failed

    ready | failed ──changed content (same external id)──▶ queued (revision + 1)

Each move is a conditional update for one revision (it names the states it leaves) in the
caller's unit of work; ``document.ready`` / ``document.failed`` go out on the ``documents``
stream after commit. A ready document's passages stay searchable while a new revision is
ingested: the new revision's replace them in the commit that makes it ready."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from v100.contracts.events import (
    DOCUMENT_FAILED,
    DOCUMENT_READY,
    DocumentEventData,
    MediaErrorInfo,
    publish_document_event,
)
from v100.kit.bus import Bus
from v100.kit.db import session_hooks, utcnow
from v100.services.rag_engine.models import Document, DocumentStatus
from v100.services.rag_engine.repository import DocumentRepository

__all__ = ["UNSETTLED", "event_data", "mark_embedding", "mark_failed", "mark_parsing", "mark_ready"]

UNSETTLED = (DocumentStatus.QUEUED, DocumentStatus.PARSING, DocumentStatus.EMBEDDING)


def event_data(row: Document) -> DocumentEventData:
    error = None
    if row.error is not None:
        error = MediaErrorInfo(type=row.error, detail=row.error_detail or "")
    return DocumentEventData(
        id=row.id, knowledge_base_id=row.knowledge_base_id, status=row.status,
        revision=row.revision, format=row.format, title=row.title, external_id=row.external_id,
        chunk_count=row.chunk_count, token_count=row.token_count,
        credits_charged=row.credits_charged, error=error,
    )  # fmt: skip


def _announce(session: AsyncSession, bus: Bus, row: Document, event_type: str) -> None:
    data, tenant_id = event_data(row), row.tenant_id
    session_hooks(session).after_commit(
        lambda: publish_document_event(bus, event_type, tenant_id=tenant_id, payload=data)
    )


async def mark_parsing(session: AsyncSession, document_id: str, revision: int) -> Document | None:
    """queued (or parsing/embedding, on a rerun) -> parsing; None when the revision settled,
    was replaced or the document deleted."""
    return await DocumentRepository(session).change(
        document_id, revision, expect_status=UNSETTLED, status=DocumentStatus.PARSING,
        started_at=utcnow(),
    )  # fmt: skip


async def mark_embedding(
    session: AsyncSession, document_id: str, revision: int, **values: Any
) -> Document | None:
    return await DocumentRepository(session).change(
        document_id, revision, expect_status=DocumentStatus.PARSING,
        status=DocumentStatus.EMBEDDING, **values,
    )  # fmt: skip


async def mark_failed(
    session: AsyncSession, bus: Bus, document_id: str, revision: int, slug: str, detail: str
) -> Document | None:
    changed = await DocumentRepository(session).change(
        document_id, revision, expect_status=UNSETTLED, status=DocumentStatus.FAILED,
        error=slug, error_detail=detail[:500],
    )  # fmt: skip
    if changed is not None:
        _announce(session, bus, changed, DOCUMENT_FAILED)
    return changed


async def mark_ready(
    session: AsyncSession, bus: Bus, document_id: str, revision: int, **values: Any
) -> Document | None:
    """embedding -> ready with ``values``; None when the revision was replaced or deleted (the
    caller then stores no passages)."""
    changed = await DocumentRepository(session).change(
        document_id, revision, expect_status=DocumentStatus.EMBEDDING,
        status=DocumentStatus.READY, ready_at=utcnow(), error=None, error_detail=None, **values,
    )  # fmt: skip
    if changed is not None:
        _announce(session, bus, changed, DOCUMENT_READY)
    return changed

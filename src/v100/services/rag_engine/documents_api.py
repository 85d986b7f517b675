"""rag_engine's endpoints under ``/v1/documents``: add a document from JSON content (text,
Markdown, HTML) or a completed transcript (``{"source": {"transcript_id": ...}}``) or from the
file itself (``POST /v1/documents/files``: PDF, Markdown, HTML or text, the raw body streamed
into storage), read one, list them, delete one with every passage. Thin: parse, call
``DocumentService``, shape."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import JSONResponse, Response

from v100.kit.auth import Principal
from v100.kit.db import InvalidCursorError, unit_of_work, writers_turn
from v100.kit.errors import BadRequest
from v100.kit.http import VENDOR_NOT_CONFIGURED, Authorized, SessionDep
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.services.rag_engine.deps import ServiceDep
from v100.services.rag_engine.errors import FormatUnsupported
from v100.services.rag_engine.models import Document, SourceFormat
from v100.services.rag_engine.schemas import (
    DocumentCreate,
    DocumentError,
    DocumentOut,
    DocumentPage,
    DocumentSource,
    ExternalId,
    KnowledgeBaseId,
    Title,
)
from v100.services.rag_engine.service import Ingestion, StoredSource

__all__ = ["FILES", "PREFIX", "document_out", "documents_router"]

RagRead = Annotated[Principal, Depends(Authorized("rag:read", "service:rag"))]
RagWrite = Annotated[Principal, Depends(Authorized("rag:write", "service:rag"))]

PREFIX = "/v1/documents"
FILES = f"{PREFIX}/files"
# Uploads are bounded by the service while they stream (max_document_bytes).
BODY_LIMITS = {FILES: sys.maxsize}
documents_router = APIRouter(prefix=PREFIX, tags=["documents"])

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]
Status = Literal["queued", "parsing", "embedding", "ready", "failed"]
Format = Literal["text", "markdown", "html", "pdf"]
_NAME = r"^[^\x00-\x1f\x7f]+$"
_TYPES = {
    "application/pdf": SourceFormat.PDF,
    "text/markdown": SourceFormat.MARKDOWN,
    "text/x-markdown": SourceFormat.MARKDOWN,
    "text/html": SourceFormat.HTML,
    "application/xhtml+xml": SourceFormat.HTML,
    "text/plain": SourceFormat.TEXT,
}
_EXTENSIONS = {
    ".pdf": SourceFormat.PDF, ".md": SourceFormat.MARKDOWN, ".markdown": SourceFormat.MARKDOWN,
    ".html": SourceFormat.HTML, ".htm": SourceFormat.HTML, ".txt": SourceFormat.TEXT,
}  # fmt: skip
_FILE_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file itself: PDF, Markdown, HTML or plain text (UTF-8).",
        "content": {
            media_type: {"schema": {"type": "string", "format": "binary"}}
            for media_type in (*_TYPES, "application/octet-stream")
        },
    }
}


def document_out(row: Document) -> DocumentOut:
    error = None
    if row.error is not None:
        error = DocumentError(type=f"/problems/{row.error}", detail=row.error_detail)
    return DocumentOut(
        id=row.id, knowledge_base_id=row.knowledge_base_id, external_id=row.external_id,
        title=row.title, format=row.format,
        source=DocumentSource(kind=row.source_kind, name=row.source_name,
                              content_type=row.content_type, size=row.source_size,
                              transcript_id=row.source_transcript_id),
        metadata=row.attributes, status=row.status, revision=row.revision,
        page_count=row.page_count, chunk_count=row.chunk_count, token_count=row.token_count,
        credits_charged=row.credits_charged, error=error, created_at=row.created_at,
        updated_at=row.updated_at, ready_at=row.ready_at,
    )  # fmt: skip


_TRANSCRIPT_SOURCE: dict[int | str, dict[str, Any]] = {
    **VENDOR_NOT_CONFIGURED,
    404: {"description": "No such transcript (a transcript source)"},
    409: {"description": "The transcript is not finished"},
    503: {"description": "transcription did not answer about a transcript source"},
}


@documents_router.post(
    "", status_code=202, response_model=DocumentOut, responses=_TRANSCRIPT_SOURCE
)
async def create_document(
    body: DocumentCreate,
    key: IdempotencyKey,
    principal: RagWrite,
    service: ServiceDep,
) -> JSONResponse:
    """Add text, Markdown, HTML or a completed transcript to a knowledge base (ingested by a
    job; 202, then poll)."""
    if body.source is not None:
        finished = await service.read_transcript(principal.tenant_id, body.source.transcript_id)
        source = await service.store_content(
            principal.tenant_id, finished.document.model_dump_json().encode(), "application/json"
        )
        what = Ingestion(
            knowledge_base_id=body.knowledge_base_id, format=SourceFormat.TRANSCRIPT,
            source_kind="transcript", title=body.title or finished.title,
            external_id=body.external_id, source_name=finished.title,
            attributes=body.metadata, transcript_id=finished.transcript_id,
        )  # fmt: skip
    else:
        assert body.content is not None
        source = await service.store_content(principal.tenant_id, body.content)
        what = Ingestion(
            knowledge_base_id=body.knowledge_base_id, format=body.format, source_kind="content",
            title=body.title, external_id=body.external_id, attributes=body.metadata,
        )  # fmt: skip
    return await _ingest(service, principal.tenant_id, key, "create_document", body, what, source)


def _format(content_type: str | None, name: str | None, asked: str | None) -> str:
    if asked is not None:
        return asked
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in _TYPES:
        return _TYPES[media_type]
    suffix = PurePosixPath(name or "").suffix.lower()
    if media_type in ("", "application/octet-stream") and suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    raise FormatUnsupported(
        f"A document is PDF, Markdown, HTML or plain text; {media_type or 'no type'} is not "
        "read here (name the format with ?format=, or send a known Content-Type)."
    )


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


@documents_router.post(
    "/files",
    status_code=202,
    response_model=DocumentOut,
    openapi_extra=_FILE_BODY,
    responses=VENDOR_NOT_CONFIGURED,
)
async def upload_document(
    request: Request,
    key: IdempotencyKey,
    principal: RagWrite,
    service: ServiceDep,
    knowledge_base_id: Annotated[KnowledgeBaseId, Query()],
    format: Annotated[Format | None, Query()] = None,
    title: Annotated[Title | None, Query()] = None,
    external_id: Annotated[ExternalId | None, Query()] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=200, pattern=_NAME)] = None,
) -> JSONResponse:
    """Add a PDF, Markdown, HTML or text file to a knowledge base (202, then poll)."""
    content_type = request.headers.get("content-type")
    chosen = _format(content_type, name, format)
    source = await service.store_upload(
        principal.tenant_id, request.stream(), declared_length=_declared_length(request),
        content_type=content_type,
    )  # fmt: skip
    what = Ingestion(
        knowledge_base_id=knowledge_base_id, format=chosen, source_kind="upload", title=title,
        external_id=external_id, source_name=name,
    )  # fmt: skip
    fingerprint = {**dataclasses.asdict(what), "sha256": source.sha256}
    return await _ingest(
        service, principal.tenant_id, key, "upload_document", fingerprint, what, source
    )


async def _ingest(
    service: ServiceDep,
    tenant_id: str,
    key: str | None,
    operation: str,
    fingerprint: DocumentCreate | dict[str, object],
    what: Ingestion,
    source: StoredSource,
) -> JSONResponse:
    created = kept = False
    try:
        async with writers_turn(service.sessions), unit_of_work(service.sessions) as session:

            async def create() -> Document:
                nonlocal created
                created = True
                return await service.ingest(session, tenant_id, what, source)

            answer = await idempotent(
                session, tenant_id, key, operation, fingerprint, create(), document_out,
                status=202,
            )  # fmt: skip
        kept = created
    finally:
        if not kept:  # a retry answered from the first request, or a refusal: not needed
            await service.storage.delete(source.key)
    return answer


@documents_router.get("", response_model=DocumentPage)
async def list_documents(
    principal: RagRead,
    service: ServiceDep,
    session: SessionDep,
    knowledge_base_id: Annotated[KnowledgeBaseId | None, Query()] = None,
    status: Status | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DocumentPage:
    """The tenant's documents, newest first (of one knowledge base, or one status)."""
    try:
        page = await service.page(
            session, principal.tenant_id, knowledge_base_id=knowledge_base_id, status=status,
            limit=limit, cursor=cursor,
        )  # fmt: skip
    except InvalidCursorError:
        raise BadRequest("The cursor is not valid.") from None
    return DocumentPage(
        items=[document_out(row) for row in page.items], next_cursor=page.next_cursor
    )


@documents_router.get("/{document_id}", response_model=DocumentOut)
async def get_document(
    document_id: str, principal: RagRead, service: ServiceDep, session: SessionDep
) -> DocumentOut:
    """One document: its status, revision and what was indexed."""
    return document_out(await service.get(session, principal.tenant_id, document_id))


@documents_router.delete("/{document_id}", status_code=204)
async def delete_document(
    document_id: str, principal: RagWrite, service: ServiceDep, session: SessionDep
) -> Response:
    """Delete a document and every passage of it."""
    await service.delete(session, principal.tenant_id, document_id)
    return Response(status_code=204)

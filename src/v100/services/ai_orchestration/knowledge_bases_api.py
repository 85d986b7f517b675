"""ai_orchestration's endpoints under ``/v1/knowledge-bases`` (scopes ``agents:read`` /
``agents:write``): knowledge bases (create with the embedding model, list, read, change the
name or description, delete with every document and passage) and their documents, relayed to
rag_engine (add from JSON content or the file itself as the raw body, list with their status,
read, delete). Thin: parse, check the scope, call ``KnowledgeBases``, shape."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import ValidationError

from v100.contracts.rag import DocumentInfo
from v100.kit.auth import Principal
from v100.kit.errors import ValidationFailed
from v100.kit.http import Authorized, SessionDep
from v100.kit.idempotency import IdempotencyKey, idempotent
from v100.services.ai_orchestration.api import paged
from v100.services.ai_orchestration.deps import KnowledgeBasesDep
from v100.services.ai_orchestration.knowledge_base_schemas import (
    KnowledgeBaseCreate,
    KnowledgeBaseDocumentIn,
    KnowledgeBaseDocumentPage,
    KnowledgeBaseOut,
    KnowledgeBasePage,
    KnowledgeBaseUpdate,
)
from v100.services.ai_orchestration.models import KnowledgeBase

__all__ = ["BODY_LIMITS", "PREFIX", "knowledge_bases_router"]

AgentsRead = Annotated[Principal, Depends(Authorized("agents:read"))]
AgentsWrite = Annotated[Principal, Depends(Authorized("agents:write"))]

PREFIX = "/v1/knowledge-bases"
knowledge_bases_router = APIRouter(prefix=PREFIX, tags=["knowledge bases"])

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]
KnowledgeBaseId = Annotated[str, Path(max_length=36)]
DocumentId = Annotated[str, Path(max_length=36)]
Status = Literal["queued", "parsing", "embedding", "ready", "failed"]
_FILE_TYPES = (
    "application/pdf", "text/markdown", "text/html", "text/plain", "application/octet-stream",
)  # fmt: skip
_DOCUMENT_BODY = {
    "requestBody": {
        "required": True,
        "description": "JSON content (text, Markdown, HTML), or the file itself as the raw "
        "body (PDF, Markdown, HTML, plain text) with ?format=, ?title=, ?external_id=, ?name=.",
        "content": {
            "application/json": {"schema": KnowledgeBaseDocumentIn.model_json_schema()},
            **{t: {"schema": {"type": "string", "format": "binary"}} for t in _FILE_TYPES},
        },
    }
}
# A document's body: files stream through to rag_engine, which bounds them
# (max_document_bytes, 20 MiB by default); JSON content is read here first, escapes and all.
BODY_LIMITS = {f"{PREFIX}/": 32 * 1024 * 1024}


def _out(kb: KnowledgeBase) -> KnowledgeBaseOut:
    return KnowledgeBaseOut.model_validate(kb, from_attributes=True)


@knowledge_bases_router.post("", status_code=201, response_model=KnowledgeBaseOut)
async def create_knowledge_base(
    body: KnowledgeBaseCreate,
    key: IdempotencyKey,
    principal: AgentsWrite,
    knowledge_bases: KnowledgeBasesDep,
    session: SessionDep,
) -> Response:
    """Create a knowledge base with the embedding model its passages will have."""
    work = knowledge_bases.create(
        session, principal.tenant_id, name=body.name, description=body.description,
        embedding_model=body.embedding_model,
    )  # fmt: skip
    return await idempotent(
        session, principal.tenant_id, key, "create_knowledge_base", body, work, _out, status=201
    )


@knowledge_bases_router.get("", response_model=KnowledgeBasePage)
async def list_knowledge_bases(
    principal: AgentsRead,
    knowledge_bases: KnowledgeBasesDep,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> KnowledgeBasePage:
    """The tenant's knowledge bases, newest first."""
    page = await paged(
        knowledge_bases.page(session, principal.tenant_id, limit=limit, cursor=cursor)
    )
    return KnowledgeBasePage(items=[_out(kb) for kb in page.items], next_cursor=page.next_cursor)


@knowledge_bases_router.get("/{kb_id}", response_model=KnowledgeBaseOut)
async def get_knowledge_base(
    kb_id: KnowledgeBaseId,
    principal: AgentsRead,
    knowledge_bases: KnowledgeBasesDep,
    session: SessionDep,
) -> KnowledgeBaseOut:
    """One knowledge base."""
    return _out(await knowledge_bases.get(session, principal.tenant_id, kb_id))


@knowledge_bases_router.patch("/{kb_id}", response_model=KnowledgeBaseOut)
async def update_knowledge_base(
    kb_id: KnowledgeBaseId,
    body: KnowledgeBaseUpdate,
    principal: AgentsWrite,
    knowledge_bases: KnowledgeBasesDep,
    session: SessionDep,
) -> KnowledgeBaseOut:
    """Change its name or description."""
    changes = body.model_dump(exclude_unset=True)
    return _out(await knowledge_bases.update(session, principal.tenant_id, kb_id, changes))


@knowledge_bases_router.delete("/{kb_id}", status_code=204)
async def delete_knowledge_base(
    kb_id: KnowledgeBaseId,
    principal: AgentsWrite,
    knowledge_bases: KnowledgeBasesDep,
    session: SessionDep,
) -> Response:
    """Delete a knowledge base with every document and passage of it."""
    await knowledge_bases.delete(session, principal.tenant_id, kb_id)
    return Response(status_code=204)


# --- documents ----------------------------------------------------------------------------


def _document_body(raw: bytes) -> dict[str, Any]:
    try:
        body = KnowledgeBaseDocumentIn.model_validate_json(raw)
    except ValidationError as exc:
        errors = [
            {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise ValidationFailed(
            "The request did not match the expected shape.", extra={"errors": errors}
        ) from None
    return body.model_dump(exclude_none=True)


@knowledge_bases_router.post(
    "/{kb_id}/documents", status_code=202, response_model=DocumentInfo,
    openapi_extra=_DOCUMENT_BODY,
)  # fmt: skip
async def add_document(
    kb_id: KnowledgeBaseId,
    request: Request,
    key: IdempotencyKey,
    principal: AgentsWrite,
    knowledge_bases: KnowledgeBasesDep,
    session: SessionDep,
    format: Annotated[Literal["text", "markdown", "html", "pdf"] | None, Query()] = None,
    title: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    external_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> DocumentInfo:
    """Add a document: JSON content, or the file itself (PDF, Markdown, HTML, text) as the
    raw body, streamed to rag_engine; ingested by a job (202, then read its status)."""
    tenant_id = principal.tenant_id
    kb = await knowledge_bases.get(session, tenant_id, kb_id)
    content_type = request.headers.get("content-type")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        body = _document_body(await request.body())
        return await knowledge_bases.add_document(kb, body, key)
    given = {"format": format, "title": title, "external_id": external_id, "name": name}
    length = request.headers.get("content-length")
    return await knowledge_bases.upload_document(
        kb, request.stream(), content_type=content_type,
        content_length=int(length) if length is not None and length.isdigit() else None,
        params={k: v for k, v in given.items() if v is not None}, idempotency_key=key,
    )  # fmt: skip


@knowledge_bases_router.get("/{kb_id}/documents", response_model=KnowledgeBaseDocumentPage)
async def list_documents(
    kb_id: KnowledgeBaseId,
    principal: AgentsRead,
    knowledge_bases: KnowledgeBasesDep,
    session: SessionDep,
    status: Status | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> KnowledgeBaseDocumentPage:
    """The knowledge base's documents, newest first, each with its status."""
    await knowledge_bases.get(session, principal.tenant_id, kb_id)
    page = await knowledge_bases.documents(
        principal.tenant_id, kb_id, status=status, limit=limit, cursor=cursor
    )
    return KnowledgeBaseDocumentPage(items=page.items, next_cursor=page.next_cursor)


@knowledge_bases_router.get("/{kb_id}/documents/{document_id}", response_model=DocumentInfo)
async def get_document(
    kb_id: KnowledgeBaseId,
    document_id: DocumentId,
    principal: AgentsRead,
    knowledge_bases: KnowledgeBasesDep,
    session: SessionDep,
) -> DocumentInfo:
    """One document: its status (queued, parsing, embedding, ready, failed) and what was
    indexed."""
    await knowledge_bases.get(session, principal.tenant_id, kb_id)
    return await knowledge_bases.document(principal.tenant_id, kb_id, document_id)


@knowledge_bases_router.delete("/{kb_id}/documents/{document_id}", status_code=204)
async def delete_document(
    kb_id: KnowledgeBaseId,
    document_id: DocumentId,
    principal: AgentsWrite,
    knowledge_bases: KnowledgeBasesDep,
    session: SessionDep,
) -> Response:
    """Delete a document and every passage of it."""
    kb = await knowledge_bases.get(session, principal.tenant_id, kb_id)
    await knowledge_bases.delete_document(kb, document_id)
    return Response(status_code=204)

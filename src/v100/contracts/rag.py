"""What other services use of rag_engine: a typed async client, over ``kit.http.ServiceClient``,
for a knowledge base's collection (made with its embedding model up front, dropped with every
document and passage), its documents (added from JSON content or a file streamed through,
listed, read, deleted), searches and answers, and re-embedding a knowledge base into another
embedding model (ADR 0047). The calls carry the platform scope
``service:rag``, which no tenant credential can hold; the tenant is the token's, so another
tenant's document is 404 like an unknown one (ADR 0041, ADR 0046).

    rag = connect_rag(settings.rag_engine_url, settings.platform)  # aclose() after
    made = await rag.make_collection(tenant_id, kb_id, None)       # the default model
    found = await rag.search(tenant_id, "refunds?", [kb_id], k=5)   # SearchResults
    started = await rag.reembed(tenant_id, kb_id, "openai/text-embedding-3-small")
    await rag.drop_collection(tenant_id, kb_id)

Refusals raise ``RagError`` (its ``status`` and RFC 9457 ``problem``; ``RagNotFound`` for
404); no answer at all raises the kit's ``UpstreamUnavailable``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from v100.contracts._calls import Refused, platform_tokens, problem_of
from v100.kit.auth import Principal
from v100.kit.errors import UpstreamUnavailable
from v100.kit.http import ServiceClient
from v100.kit.settings import PlatformSettings

__all__ = [
    "COLLECTION_PATH",
    "RAG_SCOPES",
    "REEMBEDDINGS_PATH",
    "CollectionIn",
    "CollectionInfo",
    "DocumentInfo",
    "DocumentPageInfo",
    "Passage",
    "RagAnswer",
    "RagClient",
    "RagError",
    "RagNotFound",
    "ReembeddingInfo",
    "ReembeddingRequest",
    "SearchResults",
    "connect_rag",
    "working_for",
]

RAG_SCOPES = frozenset({"service:rag"})
REEMBEDDINGS_PATH = "/v1/reembeddings"
COLLECTION_PATH = "/v1/documents/collections/{knowledge_base_id}"


def working_for(tenant_id: str) -> Principal:
    """The identity of a service's call about ``tenant_id``'s documents: no user, no key,
    ``service:rag`` only."""
    return Principal(tenant_id=tenant_id, scopes=RAG_SCOPES, role="service")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CollectionIn(BaseModel):
    """``PUT /v1/documents/collections/{kb}``: the embedding model's id (None: the model new
    knowledge bases get, ``V100_RAG_ENGINE_EMBEDDING_BACKEND``)."""

    model_config = ConfigDict(extra="forbid")
    embedding_model: str | None = None


class CollectionInfo(_Answer):
    knowledge_base_id: str
    embedding_model: str
    dimension: int
    documents: int
    created_at: datetime


class _Source(_Answer):
    kind: str
    name: str | None
    content_type: str | None
    size: int


class _DocumentError(_Answer):
    type: str
    detail: str | None


class DocumentInfo(_Answer):
    """A document as rag_engine shows it: ``status`` queued -> parsing -> embedding -> ready |
    failed."""

    id: str
    knowledge_base_id: str
    external_id: str | None
    title: str | None
    format: str
    source: _Source
    metadata: dict[str, str | bool | int | float]
    status: str
    revision: int
    page_count: int | None
    chunk_count: int | None
    token_count: int | None
    credits_charged: int | None
    error: _DocumentError | None
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None


class DocumentPageInfo(_Answer):
    items: list[DocumentInfo]
    next_cursor: str | None


class Passage(_Answer):
    number: int
    document_id: str
    knowledge_base_id: str
    document_title: str | None
    position: int
    heading_path: list[str]
    page: int | None
    text: str
    score: float


class SearchResults(_Answer):
    mode: str
    passages: list[Passage]


class _Citation(_Answer):
    number: int
    document_id: str
    knowledge_base_id: str
    position: int
    quote: str


class RagAnswer(_Answer):
    question: str
    answer: str | None
    citations: list[_Citation]
    passages: list[Passage]
    llm: str | None
    note: str


class ReembeddingRequest(BaseModel):
    """``POST /v1/reembeddings``: embed the knowledge base's passages again with
    ``embedding_model`` (a model id as rag_engine names it: ``minilm-l6-v2-int8``,
    ``openai/text-embedding-3-small``, ``openai/text-embedding-3-small@512``)."""

    model_config = ConfigDict(extra="forbid")
    knowledge_base_id: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
    )
    embedding_model: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")


class ReembeddingInfo(BaseModel):
    """A re-embedding: ``status`` queued -> running -> done (the knowledge base now uses
    ``to_model``) | failed (it keeps ``from_model``; ``error`` says why)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    knowledge_base_id: str
    from_model: str
    to_model: str
    dimension: int
    status: Literal["queued", "running", "done", "failed"]
    passage_count: int | None
    embedded_count: int
    token_count: int | None
    credits_charged: int | None
    error: str | None
    error_detail: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RagError(Refused):
    """rag_engine refused a call; ``problem`` is its RFC 9457 body."""


class RagNotFound(RagError):
    """No such document for this tenant (unknown, another tenant's, or deleted)."""


class RagClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- collections --------------------------------------------------------------------------

    async def make_collection(
        self, tenant_id: str, knowledge_base_id: str, embedding_model: str | None
    ) -> CollectionInfo:
        """The knowledge base's collection with its model (the same again: as it is)."""
        path = COLLECTION_PATH.format(knowledge_base_id=knowledge_base_id)
        body = CollectionIn(embedding_model=embedding_model).model_dump()
        response = await self._client.request(
            "PUT", path, principal=working_for(tenant_id), json=body
        )
        return CollectionInfo.model_validate(_answer(response))

    async def drop_collection(self, tenant_id: str, knowledge_base_id: str) -> None:
        """The collection, its documents and every passage (none there: nothing to do)."""
        path = COLLECTION_PATH.format(knowledge_base_id=knowledge_base_id)
        _answer(await self._client.request("DELETE", path, principal=working_for(tenant_id)))

    # -- documents ----------------------------------------------------------------------------

    async def add_document(
        self, tenant_id: str, body: Mapping[str, Any], *, idempotency_key: str
    ) -> DocumentInfo:
        """``POST /v1/documents`` with ``body`` (its ``knowledge_base_id`` set by the caller);
        the same ``idempotency_key`` again is answered as the first time."""
        response = await self._client.post(
            "/v1/documents", principal=working_for(tenant_id), json=dict(body),
            headers={"Idempotency-Key": idempotency_key},
        )  # fmt: skip
        return DocumentInfo.model_validate(_answer(response))

    async def upload_document(
        self,
        tenant_id: str,
        content: AsyncIterator[bytes],
        *,
        content_type: str | None,
        content_length: int | None,
        params: Mapping[str, str],
        idempotency_key: str,
    ) -> DocumentInfo:
        """``POST /v1/documents/files``: the file streamed through as it arrives, never held
        whole (so bytes already sent are not sent again: a lost connection is
        ``UpstreamUnavailable``, for the caller to send the file again)."""
        headers = {"Idempotency-Key": idempotency_key}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if content_length is not None:
            headers["Content-Length"] = str(content_length)
        try:
            response = await self._client.post(
                "/v1/documents/files", principal=working_for(tenant_id), content=_Once(content),
                params=dict(params), headers=headers,
            )  # fmt: skip
        except _AlreadySent:  # a retry of bytes already sent: they cannot be again
            raise UpstreamUnavailable(
                "rag_engine did not take the file; send it again.", retry_after=1
            ) from None
        return DocumentInfo.model_validate(_answer(response))

    async def documents(
        self,
        tenant_id: str,
        knowledge_base_id: str,
        *,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> DocumentPageInfo:
        params: dict[str, str | int] = {"knowledge_base_id": knowledge_base_id, "limit": limit}
        if status is not None:
            params["status"] = status
        if cursor is not None:
            params["cursor"] = cursor
        response = await self._client.get(
            "/v1/documents", principal=working_for(tenant_id), params=params
        )
        return DocumentPageInfo.model_validate(_answer(response))

    async def document(self, tenant_id: str, document_id: str) -> DocumentInfo:
        response = await self._client.get(
            f"/v1/documents/{document_id}", principal=working_for(tenant_id)
        )
        return DocumentInfo.model_validate(_answer(response))

    async def delete_document(self, tenant_id: str, document_id: str) -> None:
        _answer(
            await self._client.request(
                "DELETE", f"/v1/documents/{document_id}", principal=working_for(tenant_id)
            )
        )

    # -- retrieval ----------------------------------------------------------------------------

    async def search(
        self, tenant_id: str, query: str, knowledge_base_ids: Sequence[str], *, k: int
    ) -> SearchResults:
        """Hybrid search over the knowledge bases' passages, numbered 1, 2, ..."""
        body = {"query": query, "knowledge_base_ids": list(knowledge_base_ids), "k": k}
        response = await self._client.post(
            "/v1/search", principal=working_for(tenant_id), json=body
        )
        return SearchResults.model_validate(_answer(response))

    async def answer(
        self, tenant_id: str, question: str, knowledge_base_ids: Sequence[str], *, k: int
    ) -> RagAnswer:
        """``/v1/rag``: the question answered from the top ``k`` passages, with citations."""
        body = {"question": question, "knowledge_base_ids": list(knowledge_base_ids), "k": k}
        response = await self._client.post("/v1/rag", principal=working_for(tenant_id), json=body)
        return RagAnswer.model_validate(_answer(response))

    # -- re-embedding --------------------------------------------------------------------------

    async def reembed(
        self, tenant_id: str, knowledge_base_id: str, embedding_model: str
    ) -> ReembeddingInfo:
        """Ask for the knowledge base's re-embedding (202: queued)."""
        body = ReembeddingRequest(
            knowledge_base_id=knowledge_base_id, embedding_model=embedding_model
        )
        response = await self._client.request(
            "POST", REEMBEDDINGS_PATH, principal=working_for(tenant_id),
            json=body.model_dump(mode="json"),
        )  # fmt: skip
        return ReembeddingInfo.model_validate(_answer(response))

    async def reembedding(self, tenant_id: str, reembedding_id: str) -> ReembeddingInfo:
        """A re-embedding as it stands."""
        response = await self._client.get(
            f"{REEMBEDDINGS_PATH}/{reembedding_id}", principal=working_for(tenant_id)
        )
        return ReembeddingInfo.model_validate(_answer(response))


class _AlreadySent(Exception):
    """A retry asked for a file's bytes again; they were read once, as they arrived."""


class _Once:
    """The file's bytes for one attempt only: a retry that would read them again (and send an
    empty body: the source is spent) is stopped instead."""

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self._source = source
        self._read = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._read:
            raise _AlreadySent()
        self._read = True
        return self._source


def connect_rag(url: str, platform: PlatformSettings, *, timeout: float = 60.0) -> RagClient:
    """A client of rag_engine at ``url`` that signs its calls with the platform's internal token
    secret; it owns its connections (``aclose``)."""
    tokens = platform_tokens(platform)
    return RagClient(ServiceClient(url, tokens, timeout=timeout))


def _answer(response: httpx.Response) -> Any:
    if response.status_code == 204:
        return None
    if response.status_code < 400:
        return response.json()
    problem = problem_of(response)
    if response.status_code == 404:
        raise RagNotFound(404, problem)
    raise RagError(response.status_code, problem)

"""What other services use of rag_engine: a typed async client, over ``kit.http.ServiceClient``,
to re-embed a tenant's knowledge base into another embedding model and follow it (ADR 0047).
The calls carry the platform scope ``service:rag``, which no tenant credential can hold; the
tenant is the token's, so another tenant's knowledge base or re-embedding is 404 like an
unknown one.

    rag = connect_rag(settings.rag_engine_url, settings.platform)          # aclose() after
    started = await rag.reembed(tenant_id, "kb-1", "openai/text-embedding-3-small")
    status = await rag.reembedding(tenant_id, started.id)   # queued, running, done, failed

Refusals raise ``RagError`` (``problem`` is the RFC 9457 body: 404 ``not-found``, 422
``embedding-model-unavailable``, 409 ``reembedding-in-progress``); no answer at all raises the
kit's ``UpstreamUnavailable``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from v100.kit.auth import InternalTokens, Principal
from v100.kit.http import ServiceClient
from v100.kit.settings import PlatformSettings

__all__ = [
    "RAG_SCOPES",
    "REEMBEDDINGS_PATH",
    "RagClient",
    "RagError",
    "ReembeddingInfo",
    "ReembeddingRequest",
    "connect_rag",
    "working_for",
]

RAG_SCOPES = frozenset({"service:rag"})
REEMBEDDINGS_PATH = "/v1/reembeddings"


def working_for(tenant_id: str) -> Principal:
    """The identity of a service's call about ``tenant_id``'s knowledge bases."""
    return Principal(tenant_id=tenant_id, scopes=RAG_SCOPES, role="service")


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


class RagError(Exception):
    """rag_engine refused a call; ``problem`` is its RFC 9457 body."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('type')}: {problem.get('detail')}")
        self.status = status
        self.problem = problem


class RagClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def aclose(self) -> None:
        await self._client.aclose()

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


def connect_rag(url: str, platform: PlatformSettings, *, timeout: float = 30.0) -> RagClient:
    """A client of rag_engine at ``url`` that signs its calls with the platform's internal
    token secret; it owns its connections (``aclose``)."""
    tokens = InternalTokens(
        platform.resolved_internal_token_secret, platform.internal_token_ttl_seconds
    )
    return RagClient(ServiceClient(url, tokens, timeout=timeout))


def _answer(response: httpx.Response) -> Any:
    if response.status_code < 400:
        return response.json()
    try:
        problem: dict[str, Any] = response.json()
    except ValueError:
        problem = {"status": response.status_code, "detail": response.text[:200]}
    raise RagError(response.status_code, problem)

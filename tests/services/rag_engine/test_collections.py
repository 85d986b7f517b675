"""The routes ai_orchestration uses for its knowledge bases (``service:rag``, through the
``contracts.rag`` client on a real server): a collection made up front with its model (the same
again answers it as it is, an unknown model is 422, another model 409), documents added and
searched with the platform scope, and a drop that takes every document and passage with it; a
tenant's own credential cannot reach these routes; a relayed file is never sent twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from v100.contracts.rag import RagError, connect_rag
from v100.kit.errors import UpstreamUnavailable
from v100.kit.settings import PlatformSettings
from v100.kit.testing.servers import serving
from v100.services.rag_engine.app import create_app
from v100.services.rag_engine.settings import RagEngineSettings

from .support import RagApp, new_tenant

pytestmark = pytest.mark.slow  # the embedding model loads once per app


async def test_a_collection_is_made_up_front_and_dropped_with_its_passages(
    rag_settings: RagEngineSettings, rag: RagApp
) -> None:
    tenant, other = new_tenant(), new_tenant()
    kb = str(uuid.uuid4())
    async with serving(create_app(rag_settings), ready=True) as url:
        client = connect_rag(url, rag_settings.platform)
        try:
            made = await client.make_collection(tenant, kb, None)
            assert (made.embedding_model, made.dimension, made.documents) == (
                "minilm-l6-v2-int8", 384, 0,
            )  # fmt: skip
            again = await client.make_collection(tenant, kb, "minilm-l6-v2-int8")
            assert again.created_at == made.created_at
            with pytest.raises(RagError) as unknown:
                await client.make_collection(tenant, str(uuid.uuid4()), "no-such-model")
            assert unknown.value.status == 422
            assert unknown.value.problem["type"] == "/problems/embedding-model-unavailable"

            document = await client.add_document(
                tenant, {"knowledge_base_id": kb, "content": "Refunds take thirty days.",
                         "title": "Refunds"}, idempotency_key=uuid.uuid4().hex,
            )  # fmt: skip
            assert document.status == "queued"
            await rag.wait(tenant, document.id)
            found = await client.search(tenant, "refund", [kb], k=3)
            assert [p.document_id for p in found.passages] == [document.id]
            assert (await client.search(other, "refund", [kb], k=3)).passages == []
            listed = await client.documents(tenant, kb, status=None, limit=10, cursor=None)
            assert [d.id for d in listed.items] == [document.id]

            # A tenant's own credential holds no service scope.
            refused = await rag.http.put(
                f"/v1/documents/collections/{kb}", json={}, headers=rag.headers(tenant)
            )
            assert refused.status_code == 403, refused.text

            await client.drop_collection(tenant, kb)
            gone = await rag.http.get(f"/v1/documents/{document.id}", headers=rag.headers(tenant))
            assert gone.status_code == 404
            assert (await client.search(tenant, "refund", [kb], k=3)).passages == []
            await client.drop_collection(tenant, kb)  # none there: nothing to do
            remade = await client.make_collection(tenant, kb, None)
            assert remade.documents == 0
        finally:
            await client.aclose()


async def test_a_relayed_file_is_not_sent_twice() -> None:
    """rag_engine unavailable after reading the bytes: the client's retry cannot send them
    again, so the caller is told to (503), never sends an empty body."""
    received: list[bytes] = []

    async def unavailable(request: Request) -> Response:
        received.append(await request.body())
        return Response(status_code=503)

    app = Starlette(routes=[Route("/v1/documents/files", unavailable, methods=["POST"])])

    async def chunks() -> AsyncIterator[bytes]:
        yield b"# Title\n\n"
        yield b"Words."

    async with serving(app, lifespan="off") as url:
        platform = PlatformSettings(internal_token_secret="x" * 48)
        client = connect_rag(url, platform)
        try:
            with pytest.raises(UpstreamUnavailable):
                await client.upload_document(
                    "t1", chunks(), content_type="text/markdown", content_length=None,
                    params={"knowledge_base_id": "kb"}, idempotency_key="k1",
                )  # fmt: skip
        finally:
            await client.aclose()
    assert received == [b"# Title\n\nWords."]

"""Through the gateway with an API key, as a customer would: add a PDF and a Markdown file to a
knowledge base, wait for both to be ready, and ask a question whose answer quotes the right
passage with its citation (billing off: the gateway and rag_engine alone)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from v100.contracts.topology import SERVICES
from v100.kit.settings import PlatformSettings
from v100.kit.testing.servers import dead_url, serving
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.settings import GatewaySettings
from v100.services.gateway.testing import UNTHROTTLED
from v100.services.rag_engine.app import create_app
from v100.services.rag_engine.settings import RagEngineSettings

from .support import INTERNAL_SECRET, make_pdf

pytestmark = pytest.mark.slow

MANUAL = """# Espresso machine

## Descaling

Descale the machine every two months with citric acid to keep the boiler clean.

## Grinding

Use a fine grind for espresso and a coarse one for filter coffee.
"""


@asynccontextmanager
async def gateway_in_front_of(rag_url: str, var_dir: Path) -> AsyncIterator[tuple[str, str]]:
    """The real gateway routing rag_engine's prefixes to ``rag_url``; (its URL, an API key)."""
    nowhere = dead_url()
    upstreams = {i.name: nowhere for i in SERVICES if i.name != "gateway"}
    upstreams["rag_engine"] = rag_url
    settings = GatewaySettings(
        platform=PlatformSettings(var_dir=var_dir, internal_token_secret=INTERNAL_SECRET),
        database_url=f"sqlite+aiosqlite:///{var_dir}/gateway.db",
        jwt_secret="gateway-jwt-secret-for-rag-engine-tests-01",
        password_time_cost=1,
        password_memory_kib=1024,
        password_parallelism=1,
        upstreams=upstreams,
        **UNTHROTTLED,
    )
    async with serving(create_gateway(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        for _ in range(600):
            if (await http.get("/ready")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        signup = await http.post(
            "/v1/auth/signup",
            json={
                "email": f"owner-{uuid.uuid4().hex[:8]}@example.com",
                "password": "correct horse battery staple",
                "tenant_name": "Knowledge",
            },
        )
        assert signup.status_code == 201, signup.text
        token = signup.json()["access_token"]
        key = await http.post(
            "/v1/api-keys",
            json={"name": "rag", "scopes": ["rag:read", "rag:write"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert key.status_code == 201, key.text
        yield url, key.json()["key"]


async def test_a_pdf_and_a_markdown_file_answer_a_question_through_the_gateway(
    tmp_path: Path,
) -> None:
    platform = PlatformSettings(var_dir=tmp_path, internal_token_secret=INTERNAL_SECRET)
    settings = RagEngineSettings(
        platform=platform, database_url=f"sqlite+aiosqlite:///{tmp_path}/rag.db",
        billing_enabled=False,
    )  # fmt: skip
    pages = [["The boiler holds one litre of water."], ["The pump delivers nine bars of pressure."]]
    pdf = make_pdf(pages, title="Specifications")
    async with (
        serving(create_app(settings)) as service_url,
        gateway_in_front_of(service_url, tmp_path / "gateway") as (url, api_key),
        httpx.AsyncClient(base_url=url, timeout=60, headers={"X-API-Key": api_key}) as http,
    ):
        ids = []
        files = [(pdf, "application/pdf", "specs.pdf"),
                 (MANUAL.encode(), "text/markdown", "manual.md")]  # fmt: skip
        for data, content_type, name in files:
            sent = await http.post(
                "/v1/documents/files", content=data,
                params={"knowledge_base_id": "coffee", "name": name},
                headers={"Content-Type": content_type, "Idempotency-Key": uuid.uuid4().hex},
            )  # fmt: skip
            assert sent.status_code == 202, sent.text
            ids.append(sent.json()["id"])
        for document_id in ids:
            for _ in range(1200):
                document = (await http.get(f"/v1/documents/{document_id}")).json()
                if document["status"] in ("ready", "failed"):
                    break
                await asyncio.sleep(0.05)
            assert document["status"] == "ready", document

        asked = await http.post("/v1/rag", json={"question": "How often should I descale it?",
                                                 "knowledge_base_ids": ["coffee"]})  # fmt: skip
        assert asked.status_code == 200, asked.text
        answer = asked.json()
        first = answer["citations"][0]
        assert first["document_id"] == ids[1]
        assert "every two months" in first["quote"]
        assert answer["passages"][first["number"] - 1]["heading_path"] == [
            "Espresso machine", "Descaling",
        ]  # fmt: skip
        assert answer["llm"] is None

        question = {"question": "How much pressure does the pump make?",
                    "knowledge_base_ids": ["coffee"]}  # fmt: skip
        pressure = await http.post("/v1/rag", json=question)
        cited = pressure.json()["citations"][0]
        assert cited["document_id"] == ids[0]
        assert pressure.json()["passages"][cited["number"] - 1]["page"] == 2

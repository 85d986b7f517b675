"""A worker killed (SIGKILL) while it embeds a document: the next start of the service finds
the dead run, does the job again from the stored source, and the document ends ready with each
passage stored once. Embedded: the killed process is the whole service (``v100 serve``)."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from v100.kit.auth import InternalTokens, Principal
from v100.kit.jobs import JobStatus
from v100.kit.settings import PlatformSettings
from v100.kit.testing.http import running_app
from v100.kit.testing.jobs import wait_for_job
from v100.kit.testing.processes import V100Process
from v100.services.rag_engine.app import create_app
from v100.services.rag_engine.models import Document
from v100.services.rag_engine.settings import RagEngineSettings

from .support import INTERNAL_SECRET, new_tenant

pytestmark = [pytest.mark.slow, pytest.mark.real_clock]

WORDS = [
    "river", "stone", "lantern", "orchard", "meadow", "harbor", "candle", "willow",
    "thunder", "garden", "violet", "silver", "mountain", "cedar", "falcon", "autumn",
]  # fmt: skip


def long_text(paragraphs: int = 300) -> str:
    """Enough text that embedding it takes seconds on these cores."""
    rng = random.Random(5)
    return "\n\n".join(
        " ".join(rng.choice(WORDS) for _ in range(60)).capitalize() + "." for _ in range(paragraphs)
    )


async def test_a_worker_killed_while_embedding_is_run_again_to_a_complete_document(
    tmp_path: Path,
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path}/rag.db"
    env = os.environ | {
        "V100_VAR_DIR": str(tmp_path), "V100_INTERNAL_TOKEN_SECRET": INTERNAL_SECRET,
        "V100_RAG_ENGINE_DATABASE_URL": database, "V100_RAG_ENGINE_BILLING_ENABLED": "false",
        "V100_RAG_ENGINE_JOB_LEASE_SECONDS": "2", "V100_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    tenant = new_tenant()
    token = InternalTokens(INTERNAL_SECRET, 600).mint(
        Principal(tenant_id=tenant, user_id="u1", scopes=frozenset({"*"}))
    )
    headers = {"Authorization": f"Bearer {token}"}
    log = tmp_path / "killed.log"
    async with V100Process("serve", "rag_engine", env=env, log=log) as served:
        async with httpx.AsyncClient(base_url=served.url, timeout=60) as http:
            created = await http.post(
                "/v1/documents", json={"knowledge_base_id": "kb", "content": long_text()},
                headers={**headers, "Idempotency-Key": "long"},
            )  # fmt: skip
            assert created.status_code == 202, created.text
            path = f"/v1/documents/{created.json()['id']}"
            for _ in range(1200):
                status = (await http.get(path, headers=headers)).json()["status"]
                if status != "queued" and status != "parsing":
                    break
                await asyncio.sleep(0.05)
            assert status == "embedding", served.log_tail()
        await served.kill()

    platform = PlatformSettings(var_dir=tmp_path, internal_token_secret=INTERNAL_SECRET)
    settings = RagEngineSettings(platform=platform, database_url=database,
                                 billing_enabled=False, job_lease_seconds=2)  # fmt: skip
    app = create_app(settings)
    async with running_app(app) as http:
        for _ in range(2400):
            document = (await http.get(path, headers=headers)).json()
            if document["status"] in ("ready", "failed"):
                break
            await asyncio.sleep(0.1)
        assert document["status"] == "ready", document
        sessions = app.state.runtime.sessions
        async with sessions() as session:
            row = await session.get(Document, document["id"])
            assert row is not None
            assert row.job_id is not None
            stored = await session.scalar(
                text("SELECT count(*) FROM kit_vectors WHERE document_id = :d"), {"d": row.id}
            )
            distinct = await session.scalar(
                text("SELECT count(DISTINCT position) FROM kit_vectors WHERE document_id = :d"),
                {"d": row.id},
            )
        job = await wait_for_job(sessions, row.job_id, within=30)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
    assert stored == distinct == document["chunk_count"] > 20
    assert document["revision"] == 1

"""A completed transcript as a source, on both backends: rag_engine reads its document from the
real transcription app (its internal route, scope ``service:transcripts``), chunks its
paragraphs and keeps each passage's seconds in the recording, which searches and citations
show. A transcript not finished is 409, another tenant's or an unknown one 404; a body naming
both content and a transcript, or a format for a transcript, is refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.billed import Backend
from v100.ai.asr import Transcript as Heard
from v100.ai.asr import TranscriptSegment, Word, to_document
from v100.kit.db import drop_database, unit_of_work
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.testing.http import auth_headers, running_app
from v100.kit.testing.servers import serving
from v100.services.rag_engine.app import create_app
from v100.services.rag_engine.settings import RagEngineSettings
from v100.services.transcription.app import create_app as create_transcription
from v100.services.transcription.models import Transcript
from v100.services.transcription.settings import TranscriptionSettings

from .support import RagApp, new_tenant, tenant_principal

pytestmark = pytest.mark.slow

SENTENCES = [
    (0.0, "Customers can ask for a refund within thirty days of purchase."),
    (4.0, "The money goes back to the original card within a week."),
    (30.0, "The support line answers calls from nine to five on weekdays."),
    (35.0, "Urgent outages are handled around the clock by the on-call engineer."),
]


def heard() -> Heard:
    """What an ASR backend would have heard: each word a third of a second, with a long pause
    before the third sentence (a new paragraph)."""
    segments = []
    for start, sentence in SENTENCES:
        words, at = [], start
        for text in sentence.split():
            words.append(Word(f" {text}", at, at + 0.3, 0.9))
            at += 1 / 3
        segments.append(TranscriptSegment(sentence, start, at, tuple(words), -0.2, 0.01))
    return Heard(tuple(segments), "en", 0.99, 60.0)


@pytest.fixture
async def transcription(
    backend: Backend, billing_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Any, str]]:
    # Each service has a database of its own (on PostgreSQL, one made for this test).
    database_url = f"sqlite+aiosqlite:///{backend.platform.var_dir}/transcription.db"
    if backend.name != "embedded":
        admin = postgres_admin_url()
        assert admin is not None  # a distributed backend is skipped without it
        database_url = fresh_postgres_url(admin)
    settings = TranscriptionSettings(
        platform=backend.platform, billing_url=billing_url, model_dir=tmp_path / "models",
        database_url=database_url,
    )  # fmt: skip
    app = create_transcription(settings)
    try:
        async with running_app(app), serving(app, lifespan="off") as url:
            yield app, url
    finally:
        if backend.name != "embedded":
            await drop_database(database_url)


@pytest.fixture
async def rag_with_transcripts(
    rag_settings: RagEngineSettings, transcription: tuple[Any, str]
) -> AsyncIterator[RagApp]:
    _, url = transcription
    # Small chunks, no overlap: a passage per sentence or two.
    settings = rag_settings.model_copy(
        update={"transcription_url": url, "chunk_tokens": 32, "chunk_overlap": 0}
    )
    app = create_app(settings)
    async with running_app(app) as http:
        yield RagApp(app=app, http=http, settings=settings)


async def stored_transcript(app: Any, tenant: str, status: str = "completed") -> str:
    document = to_document(heard()).model_dump(mode="json") if status == "completed" else None
    async with unit_of_work(app.state.runtime.sessions) as session:
        row = Transcript(tenant_id=tenant, status=status, source_kind="upload", backend="local",
                         source_name="support-call.m4a", duration=60.0, language="en",
                         document=document,
                         completed_at=datetime.now(UTC) if document else None)  # fmt: skip
        session.add(row)
        await session.flush()
        return row.id


async def test_a_transcript_is_indexed_with_its_seconds(
    rag_with_transcripts: RagApp, transcription: tuple[Any, str]
) -> None:
    rag, (ts_app, _) = rag_with_transcripts, transcription
    tenant, base = new_tenant(), f"kb-{uuid.uuid4().hex[:6]}"
    transcript_id = await stored_transcript(ts_app, tenant)
    created = await rag.create(tenant, {"knowledge_base_id": base,
                                        "source": {"transcript_id": transcript_id},
                                        "metadata": {"kind": "call"}})  # fmt: skip
    assert created.status_code == 202, created.text
    done = await rag.wait(tenant, created.json()["id"])
    assert done["status"] == "ready", done
    assert done["format"] == "transcript"
    assert done["title"] == "support-call.m4a"
    assert done["source"]["kind"] == "transcript"
    assert done["source"]["transcript_id"] == transcript_id
    assert done["chunk_count"] >= 2

    found = await rag.search(tenant, {"query": "When does the support line answer calls?",
                                      "knowledge_base_ids": [base], "k": 1})  # fmt: skip
    (passage,) = found.json()["passages"]
    assert "support line" in passage["text"]
    assert passage["start_seconds"] == pytest.approx(30.0)
    assert passage["end_seconds"] > 32.0
    assert passage["metadata"] == {"kind": "call"}
    first = await rag.search(tenant, {"query": "refund within thirty days",
                                      "knowledge_base_ids": [base], "k": 1})  # fmt: skip
    assert first.json()["passages"][0]["start_seconds"] == pytest.approx(0.0)

    asked = await rag.ask(tenant, {"question": "When does the support line answer calls?",
                                   "knowledge_base_ids": [base], "k": 2})  # fmt: skip
    citation = asked.json()["citations"][0]
    assert citation["start_seconds"] == pytest.approx(30.0)


async def test_transcripts_not_there_or_not_finished_are_refused(
    rag_with_transcripts: RagApp, transcription: tuple[Any, str]
) -> None:
    rag, (ts_app, _) = rag_with_transcripts, transcription
    tenant = new_tenant()
    queued = await stored_transcript(ts_app, tenant, status="processing")
    body: dict[str, Any] = {"knowledge_base_id": "kb-t", "source": {"transcript_id": queued}}
    refused = await rag.create(tenant, body)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"] == "/problems/transcript-not-finished"
    finished = await stored_transcript(ts_app, tenant)
    for someone, transcript_id in ((new_tenant(), finished), (tenant, str(uuid.uuid4()))):
        missing = await rag.create(someone, {**body, "source": {"transcript_id": transcript_id}})
        assert missing.status_code == 404, missing.text
    both = await rag.create(tenant, {**body, "content": "Some text."})
    assert both.status_code == 422
    formatted = await rag.create(tenant, {**body, "format": "markdown"})
    assert formatted.status_code == 422
    neither = await rag.create(tenant, {"knowledge_base_id": "kb-t"})
    assert neither.status_code == 422
    # The internal route is no tenant's: a tenant's credential with every scope is refused.
    async with running_app(ts_app) as http:
        direct = await http.get(f"/v1/transcripts/{finished}/finished",
                                headers=auth_headers(ts_app, tenant_principal(tenant)))  # fmt: skip
    assert direct.status_code == 403

"""Documents end to end on both backends, with the real local MiniLM embedder and real billing:
Markdown, HTML, text and PDF ingested through queued -> parsing -> embedding -> ready with their
heading paths and pages, credits held and captured per started 1,000 tokens, events;
re-ingestion (unchanged: no work; changed: passages replaced at once), deletion that leaves no
passage, bad input failing clearly or refused as problem+json, idempotency and tenancy."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from v100.contracts.events import DOCUMENT_FAILED, DOCUMENT_READY

from .support import RagApp, make_pdf, new_tenant

# One app per backend for the module (``shared_rag``): its tests run on the module's loop, each
# for tenants of its own.
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture
def rag(shared_rag: RagApp) -> RagApp:
    return shared_rag


GUIDE = """# Field guide

Ravens are large black birds found across the northern hemisphere.

## Feeding

Ravens eat carrion, insects, grain and the eggs of other birds.
They often cache food to eat later.

## Voice

The raven's call is a deep, resonant croak that carries far.
"""


def kb() -> str:
    return f"kb-{uuid.uuid4().hex[:8]}"


async def passages(rag: RagApp, document_id: str) -> int:
    sessions = rag.app.state.runtime.sessions
    async with sessions() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM kit_vectors WHERE document_id = :d"), {"d": document_id}
        )
    return int(count or 0)


async def test_markdown_is_ingested_with_heading_paths_credits_and_an_event(rag: RagApp) -> None:
    tenant, base = new_tenant(), kb()
    available, _ = await rag.balance(tenant)
    body = {"knowledge_base_id": base, "content": GUIDE, "format": "markdown",
            "metadata": {"lang": "en"}}  # fmt: skip
    created = await rag.create(tenant, body)
    assert created.status_code == 202, created.text
    first = created.json()
    # Visible at once, before its job ran.
    assert first["status"] in ("queued", "parsing", "embedding", "ready")
    assert first["revision"] == 1
    listed = await rag.http.get("/v1/documents", params={"knowledge_base_id": base},
                                headers=rag.headers(tenant))  # fmt: skip
    assert [item["id"] for item in listed.json()["items"]] == [first["id"]]

    done = await rag.wait(tenant, first["id"])
    assert done["status"] == "ready", done
    assert done["title"] == "Field guide"
    assert done["format"] == "markdown"
    assert done["source"] == {"kind": "content", "name": None, "content_type": "text/plain",
                              "size": len(GUIDE.encode()), "transcript_id": None}  # fmt: skip
    assert done["metadata"] == {"lang": "en"}
    assert done["chunk_count"] >= 3  # one per section at least
    assert 30 < done["token_count"] < 200
    assert done["ready_at"] is not None
    assert done["credits_charged"] == 1
    assert await rag.balance(tenant) == (available - 1, 0)
    assert await passages(rag, done["id"]) == done["chunk_count"]

    found = await rag.search(tenant, {"query": "what do ravens eat?", "knowledge_base_ids": [base],
                                      "k": 1, "mode": "vector"})  # fmt: skip
    assert found.status_code == 200, found.text
    best = found.json()["passages"][0]
    assert best["heading_path"] == ["Field guide", "Feeding"]
    assert "carrion" in best["text"]
    assert best["document_title"] == "Field guide"
    assert best["metadata"] == {"lang": "en"}
    assert best["page"] is None

    events = await rag.events(done["id"])
    assert [event.type for event in events] == [DOCUMENT_READY]
    assert events[0].tenant_id == tenant
    assert events[0].data["chunk_count"] == done["chunk_count"]
    assert events[0].data["knowledge_base_id"] == base


async def test_html_and_pdf_files_keep_their_headings_and_pages(rag: RagApp) -> None:
    tenant, base = new_tenant(), kb()
    html = (b"<html><head><title>Office hours</title><script>var x = 'secret';</script></head>"
            b"<body><h1>Hours</h1><p>The office opens at nine in the morning.</p>"
            b"<h2>Holidays</h2><p>It is closed on public holidays.</p></body></html>")  # fmt: skip
    sent = await rag.upload(tenant, html, "text/html; charset=utf-8", knowledge_base_id=base,
                            name="hours.html")  # fmt: skip
    assert sent.status_code == 202, sent.text
    page = await rag.wait(tenant, sent.json()["id"])
    assert page["status"] == "ready", page
    assert page["title"] == "Office hours"
    assert page["source"]["name"] == "hours.html"

    pdf = make_pdf([["The warranty lasts two years from the date of purchase."],
                    ["Batteries are covered for six months only."]], title="Warranty")  # fmt: skip
    sent = await rag.upload(tenant, pdf, "application/pdf", knowledge_base_id=base)
    assert sent.status_code == 202, sent.text
    manual = await rag.wait(tenant, sent.json()["id"])
    assert manual["status"] == "ready", manual
    assert manual["format"] == "pdf"
    assert manual["page_count"] == 2
    assert manual["title"] == "Warranty"

    async def best(query: str) -> dict[str, object]:
        answer = await rag.search(tenant, {"query": query, "knowledge_base_ids": [base], "k": 1})
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["passages"][0])

    batteries = await best("how long are batteries covered")
    assert batteries["page"] == 2
    assert batteries["document_id"] == manual["id"]
    holidays = await best("is the office open on holidays")
    assert holidays["heading_path"] == ["Hours", "Holidays"]
    assert "secret" not in str(await best("var x secret"))  # the script was dropped


async def test_an_unchanged_document_is_no_work_and_a_changed_one_is_replaced(
    rag: RagApp,
) -> None:
    tenant, base = new_tenant(), kb()
    body = {"knowledge_base_id": base, "content": GUIDE, "format": "markdown",
            "external_id": "guide"}  # fmt: skip
    first = await rag.add(tenant, body)
    available, _ = await rag.balance(tenant)
    again = await rag.create(tenant, body)
    assert again.status_code == 202
    assert again.json()["id"] == first["id"]
    assert again.json()["revision"] == 1
    assert again.json()["status"] == "ready"
    assert await rag.balance(tenant) == (available, 0)  # no new embeddings charged
    jobs = rag.app.state.runtime.sessions
    async with jobs() as session:
        # The tenant's own jobs: the module's tests share one app.
        ran = await session.scalar(text("SELECT count(*) FROM kit_jobs WHERE task = "
                                        "'rag_engine.ingest' AND tenant_id = :t"),
                                   {"t": tenant})  # fmt: skip
    assert ran == 1

    changed = {**body, "content": "# Field guide\n\nRavens can mimic human speech."}
    second = await rag.create(tenant, changed)
    assert second.json()["id"] == first["id"]
    assert second.json()["revision"] == 2
    done = await rag.wait(tenant, first["id"])
    assert done["status"] == "ready"
    assert done["revision"] == 2
    assert await passages(rag, first["id"]) == done["chunk_count"] == 1
    found = await rag.search(tenant, {"query": "carrion", "knowledge_base_ids": [base],
                                      "mode": "fulltext"})  # fmt: skip
    assert found.json()["passages"] == []  # the old passages are gone
    mimic = await rag.search(tenant, {"query": "mimic speech", "knowledge_base_ids": [base],
                                      "mode": "fulltext"})  # fmt: skip
    assert [p["document_id"] for p in mimic.json()["passages"]] == [first["id"]]
    events = await rag.events(first["id"])
    assert [(e.type, e.data["revision"]) for e in events] == [(DOCUMENT_READY, 1),
                                                              (DOCUMENT_READY, 2)]  # fmt: skip


async def test_deleting_a_document_removes_every_passage(rag: RagApp) -> None:
    tenant, base = new_tenant(), kb()
    done = await rag.add(tenant, {"knowledge_base_id": base, "content": GUIDE,
                                  "format": "markdown"})  # fmt: skip
    assert await passages(rag, done["id"]) > 0
    gone = await rag.http.delete(f"/v1/documents/{done['id']}", headers=rag.headers(tenant))
    assert gone.status_code == 204
    assert await passages(rag, done["id"]) == 0
    again = await rag.http.get(f"/v1/documents/{done['id']}", headers=rag.headers(tenant))
    assert again.status_code == 404
    assert again.headers["content-type"] == "application/problem+json"
    for mode in ("vector", "fulltext", "hybrid"):
        found = await rag.search(tenant, {"query": "ravens", "knowledge_base_ids": [base],
                                          "mode": mode})  # fmt: skip
        assert found.json()["passages"] == [], mode


async def test_bad_documents_fail_with_a_clear_error(rag: RagApp) -> None:
    tenant, base = new_tenant(), kb()
    available, _ = await rag.balance(tenant)
    broken = await rag.upload(tenant, b"%PDF-1.4\nthis is not a pdf", "application/pdf",
                              knowledge_base_id=base)  # fmt: skip
    failed = await rag.wait(tenant, broken.json()["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "/problems/document-unreadable"
    assert "PDF" in failed["error"]["detail"]
    events = await rag.events(failed["id"])
    assert [event.type for event in events] == [DOCUMENT_FAILED]

    scanned = await rag.upload(tenant, make_pdf([[], []]), "application/pdf",
                               knowledge_base_id=base)  # fmt: skip
    empty = await rag.wait(tenant, scanned.json()["id"])
    assert empty["error"]["type"] == "/problems/document-empty"
    assert "OCR" in empty["error"]["detail"]

    latin = await rag.upload(tenant, "café".encode("latin-1"), "text/plain",
                             knowledge_base_id=base)  # fmt: skip
    undecoded = await rag.wait(tenant, latin.json()["id"])
    assert undecoded["error"]["type"] == "/problems/document-not-utf8"

    only_markup = await rag.create(tenant, {"knowledge_base_id": base, "format": "html",
                                            "content": "<script>x()</script>"})  # fmt: skip
    nothing = await rag.wait(tenant, only_markup.json()["id"])
    assert nothing["error"]["type"] == "/problems/document-empty"
    assert await rag.balance(tenant) == (available, 0)  # failed work costs nothing


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        ({"knowledge_base_id": "kb", "content": ""}, 422, "validation-failed"),
        ({"knowledge_base_id": "bad id!", "content": "x"}, 422, "validation-failed"),
        ({"knowledge_base_id": "kb", "content": "x", "format": "docx"}, 422, "validation-failed"),
        ({"knowledge_base_id": "kb", "content": "x", "extra": 1}, 422, "validation-failed"),
        ({"knowledge_base_id": "kb", "content": "x", "metadata": {"_page": 1}}, 422,
         "validation-failed"),
        ({"knowledge_base_id": "kb", "content": "x", "metadata": {"a": [1]}}, 422,
         "validation-failed"),
    ],
)  # fmt: skip
async def test_bad_bodies_are_refused(
    rag: RagApp, body: dict[str, object], status: int, slug: str
) -> None:
    answer = await rag.create(new_tenant(), body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith(slug)


async def test_bad_uploads_are_refused(rag: RagApp) -> None:
    tenant = new_tenant()
    word = await rag.upload(tenant, b"PK\x03\x04", "application/msword", knowledge_base_id="kb")
    assert word.status_code == 415
    assert word.json()["type"].endswith("document-format-unsupported")
    empty = await rag.upload(tenant, b"", "text/plain", knowledge_base_id="kb")
    assert empty.status_code == 422
    assert empty.json()["type"].endswith("document-empty")
    big = await rag.upload(tenant, b"x" * (rag.settings.max_document_bytes + 1), "text/plain",
                           knowledge_base_id="kb")  # fmt: skip
    assert big.status_code == 413
    assert big.json()["type"].endswith("document-too-large")
    by_name = await rag.upload(tenant, b"# Title\n\nBody.", "application/octet-stream",
                               knowledge_base_id="kb", name="notes.md")  # fmt: skip
    assert by_name.status_code == 202
    assert by_name.json()["format"] == "markdown"


async def test_an_idempotency_key_answers_the_first_request_again(rag: RagApp) -> None:
    tenant, key = new_tenant(), uuid.uuid4().hex
    body = {"knowledge_base_id": kb(), "content": "Owls hunt at night."}
    first = await rag.create(tenant, body, key=key)
    second = await rag.create(tenant, body, key=key)
    assert second.status_code == 202
    assert second.json()["id"] == first.json()["id"]
    other = await rag.create(tenant, {**body, "content": "Owls sleep by day."}, key=key)
    assert other.status_code == 409


async def test_tenants_see_only_their_own_documents_and_passages(rag: RagApp) -> None:
    alice, bob, base = new_tenant(), new_tenant(), kb()
    done = await rag.add(alice, {"knowledge_base_id": base, "content": GUIDE,
                                 "format": "markdown"})  # fmt: skip
    path = f"/v1/documents/{done['id']}"
    assert (await rag.http.get(path, headers=rag.headers(bob))).status_code == 404
    assert (await rag.http.delete(path, headers=rag.headers(bob))).status_code == 404
    listed = await rag.http.get("/v1/documents", headers=rag.headers(bob))
    assert listed.json()["items"] == []
    # Bob naming Alice's knowledge base id searches his own (empty) one.
    for mode in ("vector", "fulltext", "hybrid"):
        found = await rag.search(bob, {"query": "ravens", "knowledge_base_ids": [base],
                                       "mode": mode})  # fmt: skip
        assert found.json()["passages"] == [], mode
    asked = await rag.ask(bob, {"question": "What do ravens eat?", "knowledge_base_ids": [base]})
    assert asked.json()["answer"] is None
    assert asked.json()["passages"] == []
    assert await passages(rag, done["id"]) > 0  # Alice's are untouched

"""Helpers for rag_engine's tests: a running app, tenant headers, adding documents over HTTP
(JSON content, or the file itself), waiting for one to settle, searching and asking, the
durable events about a document, the tenant's balance at the real billing app, and PDFs made
by a small writer of the PDF 1.4 format (standard Helvetica, one text line per string)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from tests.support.billed import balance, tenant_principal
from tests.support.billed import new_tenant as new_tenant
from v100.contracts.events import DOCUMENTS_STREAM
from v100.kit.bus import Event
from v100.kit.testing.bus import published
from v100.kit.testing.http import auth_headers
from v100.services.rag_engine.settings import RagEngineSettings

INTERNAL_SECRET = "internal-secret-for-rag-engine-tests-0123456789ab"
SETTLED = ("ready", "failed")


@dataclass
class RagApp:
    app: FastAPI
    http: httpx.AsyncClient
    settings: RagEngineSettings

    def headers(self, tenant_id: str, **extra: str) -> dict[str, str]:
        return {**auth_headers(self.app, tenant_principal(tenant_id)), **extra}

    async def create(
        self, tenant_id: str, body: dict[str, Any], key: str | None = None
    ) -> httpx.Response:
        return await self.http.post(
            "/v1/documents",
            json=body,
            headers=self.headers(tenant_id, **{"Idempotency-Key": key or uuid.uuid4().hex}),
        )

    async def upload(
        self, tenant_id: str, data: bytes, content_type: str, **params: str
    ) -> httpx.Response:
        return await self.http.post(
            "/v1/documents/files",
            content=data,
            params=params,
            headers=self.headers(
                tenant_id,
                **{"Content-Type": content_type, "Idempotency-Key": uuid.uuid4().hex},
            ),
        )

    async def wait(self, tenant_id: str, document_id: str, within: float = 120.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            answer = await self.http.get(
                f"/v1/documents/{document_id}", headers=self.headers(tenant_id)
            )
            assert answer.status_code == 200, answer.text
            document = dict(answer.json())
            if document["status"] in SETTLED:
                return document
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"document still {document['status']}")
            await asyncio.sleep(0.05)

    async def add(self, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
        created = await self.create(tenant_id, body)
        assert created.status_code == 202, created.text
        return await self.wait(tenant_id, created.json()["id"])

    async def search(self, tenant_id: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post("/v1/search", json=body, headers=self.headers(tenant_id))

    async def ask(self, tenant_id: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post("/v1/rag", json=body, headers=self.headers(tenant_id))

    async def events(self, document_id: str) -> list[Event]:
        """Durable events published so far about one document."""
        bus = self.app.state.runtime.bus
        return await published(
            bus, DOCUMENTS_STREAM, lambda event: event.data.get("id") == document_id
        )

    async def balance(self, tenant_id: str) -> tuple[int, int]:
        return await balance(self.settings.billing_url, self.app.state.runtime.tokens, tenant_id)


def sse(text: str) -> list[tuple[str, Any]]:
    """The events of a Server-Sent Events answer: (name, data) in order."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A PDF 1.4 file with one page per item, each line of text drawn in Helvetica."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * index for index in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{page} 0 R" for page in page_ids).encode()
    objects.append(b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % len(pages))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for index, lines in enumerate(pages):
        stream = b"BT /F1 11 Tf 72 760 Td 14 TL\n"
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            stream += b"(" + escaped.encode("latin-1") + b") Tj T*\n"
        stream += b"ET"
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (page_ids[index] + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    info = None
    if title is not None:
        objects.append(b"<< /Title (" + title.encode("latin-1") + b") >>")
        info = len(objects)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    trailer = b"<< /Size %d /Root 1 0 R" % (len(objects) + 1)
    if info is not None:
        trailer += b" /Info %d 0 R" % info
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)

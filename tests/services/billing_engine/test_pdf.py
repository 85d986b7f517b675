"""Invoices as PDF: ``/v1/invoices/{id}.pdf`` and ``Accept: application/pdf`` on the invoice give a
real PDF (parsed back with pypdf: the invoice number, lines and total are in its text); Accept
also chooses HTML or JSON; another tenant's invoice is 404."""

from __future__ import annotations

import io

import pypdf
import pytest

from v100.services.billing_engine.invoicing import run_invoicing

from .support import (
    AFTER_PERIOD,
    EngineApp,
    Tenant,
    assert_problem,
    report_usage,
    setup_subscription,
)

pytestmark = pytest.mark.time_sensitive


def pdf_text(content: bytes) -> str:
    assert content.startswith(b"%PDF-")
    assert content.rstrip().endswith(b"%%EOF")
    reader = pypdf.PdfReader(io.BytesIO(content), strict=True)
    return "\n".join(page.extract_text() for page in reader.pages)


async def _issued(engine_app: EngineApp, tenant: Tenant) -> str:
    await setup_subscription(engine_app, tenant, name="Pro plan, Zürich €")
    await report_usage(engine_app, tenant)
    await run_invoicing(engine_app.app.state.runtime.sessions, AFTER_PERIOD)
    (invoice,) = (await tenant.get("/v1/invoices")).json()["items"]
    return str(invoice["id"])


async def test_the_pdf_carries_the_number_lines_and_total(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    invoice_id = await _issued(engine_app, tenant)
    response = await tenant.get(f"/v1/invoices/{invoice_id}.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert f"invoice-{invoice_id}.pdf" in response.headers["content-disposition"]
    text = pdf_text(response.content)
    assert f"Invoice {invoice_id}" in text
    assert "Total: 39.30 USD" in text  # 29.00 base + 1.30 calls + 9.00 storage
    assert "Pro plan, Zürich €" in text
    assert "api_calls" in text
    assert "1.30 USD" in text
    assert "2026-10-01" in text
    assert "2026-11-01" in text


async def test_accept_chooses_pdf_html_or_json(engine_app: EngineApp, tenant: Tenant) -> None:
    invoice_id = await _issued(engine_app, tenant)
    path = f"/v1/invoices/{invoice_id}"
    by_accept = {}
    for accept in (
        "application/pdf",
        "text/html;q=0.5, application/pdf",
        "text/html",
        "application/json",
        "*/*",
        "image/png",
    ):
        response = await tenant.http.get(path, headers={**tenant.headers, "Accept": accept})
        assert response.status_code == 200, response.text
        by_accept[accept] = response
    for accept in ("application/pdf", "text/html;q=0.5, application/pdf"):
        assert by_accept[accept].headers["content-type"] == "application/pdf"
        assert f"Invoice {invoice_id}" in pdf_text(by_accept[accept].content)
    assert by_accept["text/html"].headers["content-type"].startswith("text/html")
    for accept in ("application/json", "*/*", "image/png"):
        assert by_accept[accept].json()["id"] == invoice_id


async def test_another_tenant_gets_404(engine_app: EngineApp, tenant: Tenant) -> None:
    invoice_id = await _issued(engine_app, tenant)
    stranger = engine_app.tenant()
    assert_problem(await stranger.get(f"/v1/invoices/{invoice_id}.pdf"), 404, "not-found")
    response = await stranger.http.get(
        f"/v1/invoices/{invoice_id}", headers={**stranger.headers, "Accept": "application/pdf"}
    )
    assert_problem(response, 404, "not-found")

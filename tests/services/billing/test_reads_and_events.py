"""Reads (balance, history, audit log with filters, pages and CSV) and the low-balance events
published once per crossing."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from v100.kit.db import unit_of_work
from v100.services.billing.service import CreditService

from .support import Billing, events_for, new_tenant

# One billing app per backend for the module (conftest.py): its tests run on the module's loop.
pytestmark = [pytest.mark.time_sensitive, pytest.mark.asyncio(loop_scope="module")]


async def test_low_and_exhausted_are_published_once_per_crossing(billing: Billing) -> None:
    tenant = new_tenant()
    for amount in (850, 60, 10):  # 150, then 90 (low), then 80 (still low: no event)
        assert (await billing.deduct(tenant, amount)).status_code == 201
    assert [e.type for e in await events_for(billing.app, tenant)] == ["credits.low"]
    hold = (await billing.reserve(tenant, 80)).json()  # 0 available: exhausted
    assert (await billing.deduct(tenant, 1)).status_code == 409
    events = await events_for(billing.app, tenant)
    assert [e.type for e in events] == ["credits.low", "credits.exhausted"]
    assert events[1].data["available"] == 0
    assert events[1].source == "billing"
    # Back above the threshold and down again: a new crossing, a new event.
    await billing.post(tenant, f"/v1/credits/holds/{hold['id']}/release")
    async with unit_of_work(billing.app.state.runtime.sessions) as session:
        await CreditService(session, billing.settings).grant(
            tenant, 500, category="paid", source="test"
        )
    assert (await billing.deduct(tenant, 550)).status_code == 201
    assert [e.type for e in await events_for(billing.app, tenant)] == [
        "credits.low",
        "credits.exhausted",
        "credits.low",
    ]


async def test_history_is_filtered_and_paged(billing: Billing) -> None:
    tenant = new_tenant()
    for i in range(5):
        assert (
            await billing.deduct(tenant, 1, body={"reference": f"job-{i % 2}"})
        ).status_code == 201
    hold = (await billing.reserve(tenant, 10, reference="job-0")).json()
    await billing.post(tenant, f"/v1/credits/holds/{hold['id']}/release")

    async def items(**params: object) -> list[dict]:  # type: ignore[type-arg]
        response = await billing.get(tenant, "/v1/credits/transactions", params=params)
        assert response.status_code == 200, response.text
        return response.json()["items"]  # type: ignore[no-any-return]

    everything = await items(limit=200)
    assert [t["kind"] for t in everything] == ["release", "hold"] + ["deduction"] * 5 + ["grant"]
    assert [t["available_after"] for t in everything][:3] == [995, 985, 995]
    assert len(await items(kind="deduction")) == 5
    assert len(await items(kind=["hold", "release"])) == 2
    assert len(await items(reference="job-0")) == 5
    assert len(await items(actor="user:u1")) == 7
    assert len(await items(actor="system")) == 1
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await items(since=future) == []
    assert len(await items(until=future)) == 8
    # Pages: three, then three, then the rest, and nothing repeated.
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = (await billing.get(tenant, "/v1/credits/transactions", params=params)).json()
        seen += [t["id"] for t in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [t["id"] for t in everything]
    bad = await billing.get(tenant, "/v1/credits/transactions", params={"cursor": "nope"})
    assert bad.status_code == 400
    # Another tenant sees none of it.
    stranger = new_tenant()
    body = (await billing.get(stranger, "/v1/credits/transactions")).json()
    assert [t["kind"] for t in body["items"]] == ["grant"]


async def test_audit_log_and_csv_export(billing: Billing) -> None:
    tenant = new_tenant()
    assert (await billing.deduct(tenant, 5, body={"reference": "=cmd()"})).status_code == 201
    hold = (await billing.reserve(tenant, 10, reference="r1")).json()
    await billing.post(tenant, f"/v1/credits/holds/{hold['id']}/capture", {"amount": 4})
    audit = (await billing.get(tenant, "/v1/credits/audit")).json()["items"]
    assert [a["action"] for a in audit] == [
        "hold.captured", "hold.created", "deduction", "grant.created",
    ]  # fmt: skip
    only = (await billing.get(tenant, "/v1/credits/audit", params={"kind": "hold.created"})).json()
    assert [a["subject_id"] for a in only["items"]] == [hold["id"]]

    for request in (
        billing.get(tenant, "/v1/credits/transactions", headers={"Accept": "text/csv"}),
        billing.get(tenant, "/v1/credits/transactions", params={"format": "csv"}),
    ):
        response = await request
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [r["kind"] for r in rows] == ["capture", "hold", "deduction", "grant"]
        assert rows[2]["reference"] == "'=cmd()"  # no formula injection
        assert int(rows[0]["amount"]) == 4
    response = await billing.get(tenant, "/v1/credits/audit", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert next(r["action"] for r in rows) == "hold.captured"
    assert rows[0]["actor"] == "user:u1"


async def test_csv_export_streams_every_page(billing: Billing) -> None:
    tenant = new_tenant()
    async with unit_of_work(billing.app.state.runtime.sessions) as session:
        credits = CreditService(session, billing.settings)
        for _ in range(450):
            await credits.deduct(tenant, 1, reason="bulk")
    response = await billing.get(tenant, "/v1/credits/transactions", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 451
    assert len({r["id"] for r in rows}) == 451

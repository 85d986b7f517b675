"""Usage: reported by the platform's services for a tenant (ADR 0027) against the operator's
meters; events deduplicated forever by their id (across batches, within one, concurrently),
unknown meters and bad values rejected per event, and each aggregation computed in SQL."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest

from .support import EngineApp, Tenant, assert_problem

# One app per backend for the module (``module_engine_app``), its tests on the module's loop:
# usage is the tenant's own, and each test makes meters of its own (``code``), so the tests
# stay apart though the operator's catalogue is one.
pytestmark = [pytest.mark.time_sensitive, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture
def engine_app(module_engine_app: EngineApp) -> EngineApp:
    return module_engine_app


def code(name: str) -> str:
    """A meter code no other test of the module uses."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


WINDOW = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}


def event(id: str, meter: str, at: str = "2026-11-10T10:00:00Z", **props: Any) -> dict[str, Any]:
    return {"id": id, "meter": meter, "timestamp": at, "properties": props}


async def meter(engine_app: EngineApp, code: str, aggregation: str, **fields: Any) -> None:
    """The operator's meter."""
    body = {"code": code, "aggregation": aggregation, **fields}
    response = await engine_app.operator().post("/v1/usage/meters", body)
    assert response.status_code == 201, response.text


async def send(engine_app: EngineApp, tenant: Tenant, *events: dict[str, Any]) -> dict[str, Any]:
    """A platform service reports the events for ``tenant``."""
    response = await engine_app.service(tenant).post("/v1/usage/events", {"events": list(events)})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def summary(tenant: Tenant, code: str, **params: Any) -> dict[str, Any]:
    response = await tenant.get(f"/v1/usage/meters/{code}/summary", **WINDOW, **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_duplicates_are_ignored_within_and_across_batches(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    calls = code("calls")
    await meter(engine_app, calls, "count")
    first = await send(engine_app, tenant, *(event(i, calls) for i in ("e1", "e2", "e1")))
    assert [r["status"] for r in first["results"]] == ["accepted", "accepted", "duplicate"]
    assert (first["accepted"], first["duplicates"], first["rejected"]) == (2, 1, 0)
    # A retry days later, in another batch: still a duplicate (lago-api#3049).
    second = await send(engine_app, tenant, event("e2", calls), event("e3", calls))
    assert [r["status"] for r in second["results"]] == ["duplicate", "accepted"]
    assert Decimal((await summary(tenant, calls))["groups"][0]["value"]) == 3


async def test_concurrent_batches_with_the_same_ids_count_once(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    calls = code("calls")
    await meter(engine_app, calls, "count")
    batch = [event(f"c{i:03d}", calls) for i in range(400)]
    # Overlapping ids in opposite orders. (The deadlock this order once caused on PostgreSQL
    # showed under bench/usage_ingest.py's real server; in process it is timing-dependent.)
    orders = [batch, batch[::-1], batch[200:] + batch[:200], batch[::-1]] * 2
    answers = await asyncio.gather(*(send(engine_app, tenant, *order) for order in orders))
    assert sum(a["accepted"] for a in answers) == 400
    assert sum(a["duplicates"] for a in answers) == 7 * 400
    assert (await summary(tenant, calls))["groups"][0]["event_count"] == 400


async def test_unknown_meter_and_bad_values_are_rejected_per_event(
    engine_app: EngineApp, tenant: Tenant
) -> None:
    tokens, nope = code("tokens"), code("nope")
    await meter(engine_app, tokens, "sum", property="tokens")
    answer = await send(
        engine_app,
        tenant,
        event("ok", tokens, tokens=10),
        event("nometer", nope, tokens=1),
        event("missing", tokens),
        event("text", tokens, tokens="many"),
        event("bool", tokens, tokens=True),
        {
            "id": "naive",
            "meter": tokens,
            "timestamp": "2026-11-10T10:00:00",
            "properties": {"tokens": 1},
        },
    )
    statuses = {r["id"]: (r["status"], r["error"]) for r in answer["results"]}
    assert statuses["ok"] == ("accepted", None)
    assert statuses["nometer"] == ("rejected", f"unknown meter '{nope}'")
    assert statuses["missing"][0] == "rejected"
    assert "missing" in statuses["missing"][1]
    assert statuses["text"][0] == statuses["bool"][0] == statuses["naive"][0] == "rejected"
    # A rejected id was not recorded: once the meter exists, the same id is accepted.
    await meter(engine_app, nope, "count")
    again = await send(engine_app, tenant, event("nometer", nope))
    assert again["results"][0]["status"] == "accepted"


async def test_batch_limits(engine_app: EngineApp, tenant: Tenant) -> None:
    calls = code("calls")
    await meter(engine_app, calls, "count")
    service = engine_app.service(tenant)
    assert_problem(await service.post("/v1/usage/events", {"events": []}), 422, "validation-failed")
    too_many = [event(f"x{i}", calls) for i in range(1001)]
    response = await service.post("/v1/usage/events", {"events": too_many})
    assert_problem(response, 422, "validation-failed")


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [("sum", "17.5"), ("count", "4"), ("unique_count", "2"), ("max", "9"), ("latest", "2.5")],
)
async def test_aggregations(
    engine_app: EngineApp, tenant: Tenant, aggregation: str, expected: str
) -> None:
    prop = "user" if aggregation == "unique_count" else "n"
    m = code("m")
    await meter(
        engine_app, m, aggregation, **({} if aggregation == "count" else {"property": prop})
    )
    events = [
        event("a", m, "2026-11-02T00:00:00Z", n=6, user="ann"),
        event("b", m, "2026-11-05T00:00:00Z", n=9, user="bob"),
        event("c", m, "2026-11-20T00:00:00Z", n="2.5", user="ann"),
        event("d", m, "2026-11-03T00:00:00Z", n=0, user="bob"),
        # Outside [from, to): the boundary instant belongs to the next period.
        event("late", m, "2026-12-01T00:00:00Z", n=100, user="zed"),
    ]
    await send(engine_app, tenant, *events)
    body = await summary(tenant, m)
    assert body["aggregation"] == aggregation
    assert body["from"].startswith("2026-11-01T00:00:00")
    assert Decimal(body["groups"][0]["value"]) == Decimal(expected)
    assert body["groups"][0]["event_count"] == 4


async def test_group_by(engine_app: EngineApp, tenant: Tenant) -> None:
    gb = code("gb")
    await meter(engine_app, gb, "sum", property="gb", group_by="region")
    await send(
        engine_app,
        tenant,
        event("1", gb, gb=1, region="eu"),
        event("2", gb, gb=2, region="us"),
        event("3", gb, gb=4, region="eu"),
        event("4", gb, gb=8),
    )
    groups = (await summary(tenant, gb, group_by="region"))["groups"]
    by_group = {g["group"]: (Decimal(g["value"]), g["event_count"]) for g in groups}
    assert by_group == {"eu": (5, 2), "us": (2, 1), None: (8, 1)}
    response = await tenant.get(f"/v1/usage/meters/{gb}/summary", **WINDOW, group_by="user")
    assert_problem(response, 422, "validation-failed")


async def test_latest_per_group(engine_app: EngineApp, tenant: Tenant) -> None:
    seats = code("seats")
    await meter(engine_app, seats, "latest", property="seats", group_by="team")
    await send(
        engine_app,
        tenant,
        event("1", seats, "2026-11-02T00:00:00Z", seats=3, team="a"),
        event("2", seats, "2026-11-09T00:00:00Z", seats=5, team="a"),
        event("3", seats, "2026-11-04T00:00:00Z", seats=7, team="b"),
    )
    groups = (await summary(tenant, seats, group_by="team"))["groups"]
    assert {g["group"]: Decimal(g["value"]) for g in groups} == {"a": 5, "b": 7}


async def test_usage_is_per_tenant(engine_app: EngineApp) -> None:
    alice, bob = engine_app.tenant(), engine_app.tenant()
    calls = code("calls")
    await meter(engine_app, calls, "count")  # the operator's, for every tenant
    await send(engine_app, alice, event("same-id", calls))
    # The same idempotency key in another tenant is another event.
    assert (await send(engine_app, bob, event("same-id", calls)))["accepted"] == 1
    assert (await summary(alice, calls))["groups"][0]["event_count"] == 1
    # A tenant that reported nothing sees none of the others' usage; an unknown meter is 404.
    stranger = engine_app.tenant()
    (nothing,) = (await summary(stranger, calls))["groups"]
    assert Decimal(nothing["value"]) == 0
    assert nothing["event_count"] == 0
    response = await stranger.get("/v1/usage/meters/nope/summary", **WINDOW)
    assert_problem(response, 404, "not-found")
    # A tenant's own credential (even "*") reports no usage: the platform's services do.
    refused = await alice.post("/v1/usage/events", {"events": [event("mine", calls)]})
    assert_problem(refused, 403, "forbidden")
    assert (await summary(alice, calls))["groups"][0]["event_count"] == 1

"""Plans: the operator's catalogue (ADR 0027), created by the operator and read by tenants (the
published plans only); bad money and unknown currencies are 422 problems."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio

from .support import EngineApp, Tenant, assert_problem

pytestmark = pytest.mark.time_sensitive


def plan_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "pro-monthly",
        "name": "Pro",
        "interval": "monthly",
        "base_price": 2900,
        "currency": "USD",
        "included": {"api_calls": "1000"},
        "charges": [{"meter": "api_calls", "rate_card": {"type": "per_unit", "unit_price": "0.5"}}],
        "trial_days": 14,
        "tier": "pro",
    }
    body.update(overrides)
    return body


async def make_meter(operator: Tenant, code: str = "api_calls", **fields: Any) -> dict[str, Any]:
    body = {"code": code, "aggregation": "count", **fields}
    response = await operator.post("/v1/usage/meters", body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_create_and_list_plans(engine_app: EngineApp, tenant: Tenant) -> None:
    operator = engine_app.operator()
    await make_meter(operator)
    created = await operator.post("/v1/plans", plan_body())
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["base_price"] == 2900
    assert plan["currency"] == "USD"
    assert plan["tier"] == "pro"
    assert plan["status"] == "published"
    assert plan["charges"][0]["rate_card"] == {"type": "per_unit", "unit_price": "0.5"}

    # A tenant reads the operator's published plans.
    listed = await tenant.get("/v1/plans")
    assert [p["id"] for p in listed.json()["items"]] == [plan["id"]]
    assert (await tenant.get(f"/v1/plans/{plan['id']}")).json()["code"] == "pro-monthly"
    assert [p["id"] for p in (await operator.get("/v1/plans")).json()["items"]] == [plan["id"]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def with_meter(module_engine_app: EngineApp) -> EngineApp:
    """The module's app with the meter the plan body charges for: a refused plan leaves
    nothing behind, so these tests share it."""
    await make_meter(module_engine_app.operator())
    return module_engine_app


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "usd"}, "currency"),
        ({"base_price": -1}, "base_price"),
        ({"base_price": 19.99}, "base_price"),
        ({"interval": "weekly"}, "interval"),
        ({"tier": "gold"}, "tier"),
        ({"trial_days": -3}, "trial_days"),
        (
            {
                "charges": [
                    {"meter": "api_calls", "rate_card": {"type": "per_unit", "unit_price": "-1"}}
                ]
            },
            "unit_price",
        ),
        (
            {
                "charges": [
                    {
                        "meter": "api_calls",
                        "rate_card": {"type": "graduated", "tiers": [{"up_to": 10}, {"up_to": 5}]},
                    }
                ]
            },
            "last tier",
        ),
    ],
)
async def test_bad_plans_are_422_problems(
    with_meter: EngineApp, overrides: dict[str, Any], field: str
) -> None:
    operator = with_meter.operator()
    response = await operator.post("/v1/plans", plan_body(**overrides))
    body = assert_problem(response, 422, "validation-failed")
    assert field in response.text
    assert "Traceback" not in str(body)


async def test_plan_with_unknown_meter_is_422(engine_app: EngineApp) -> None:
    response = await engine_app.operator().post("/v1/plans", plan_body())
    assert_problem(response, 422, "validation-failed")


async def test_duplicate_plan_code_is_409(engine_app: EngineApp) -> None:
    operator = engine_app.operator()
    await make_meter(operator)
    assert (await operator.post("/v1/plans", plan_body())).status_code == 201
    assert_problem(await operator.post("/v1/plans", plan_body()), 409, "conflict")


async def test_tenants_see_only_the_published_plans_and_make_none(engine_app: EngineApp) -> None:
    alice, bob = engine_app.tenant(), engine_app.tenant()
    operator = engine_app.operator()
    await make_meter(operator)
    published = (await operator.post("/v1/plans", plan_body())).json()
    created = await operator.post("/v1/plans", plan_body(code="secret", status="draft"))
    assert created.status_code == 201, created.text
    draft = created.json()
    assert draft["status"] == "draft"
    # Every tenant sees the same published plans, and no draft.
    for tenant in (alice, bob):
        assert [p["id"] for p in (await tenant.get("/v1/plans")).json()["items"]] == [
            published["id"]
        ]
        assert_problem(await tenant.get(f"/v1/plans/{draft['id']}"), 404, "not-found")
    # The operator sees its whole catalogue.
    assert {p["id"] for p in (await operator.get("/v1/plans")).json()["items"]} == {
        published["id"],
        draft["id"],
    }
    assert (await operator.get(f"/v1/plans/{draft['id']}")).json()["code"] == "secret"
    # A tenant (even with "*") makes no plans or meters, nor changes one.
    assert_problem(await alice.post("/v1/plans", plan_body(code="mine")), 403, "forbidden")
    meter = {"code": "mine", "aggregation": "count"}
    assert_problem(await alice.post("/v1/usage/meters", meter), 403, "forbidden")
    patch = await alice.http.patch(
        f"/v1/plans/{draft['id']}", json={"status": "published"}, headers=alice.headers
    )
    assert_problem(patch, 403, "forbidden")
    # Once the operator publishes it, tenants see it.
    patch = await operator.http.patch(
        f"/v1/plans/{draft['id']}", json={"status": "published"}, headers=operator.headers
    )
    assert patch.status_code == 200, patch.text
    assert (await bob.get(f"/v1/plans/{draft['id']}")).json()["status"] == "published"

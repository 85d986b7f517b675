"""Plans: created and listed per tenant; bad money and unknown currencies are 422 problems."""

from __future__ import annotations

from typing import Any

import pytest
from billing_engine_support import EngineApp, Tenant, assert_problem

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


async def make_meter(tenant: Tenant, code: str = "api_calls", **fields: Any) -> dict[str, Any]:
    body = {"code": code, "aggregation": "count", **fields}
    response = await tenant.post("/v1/usage/meters", body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_create_and_list_plans(tenant: Tenant) -> None:
    await make_meter(tenant)
    created = await tenant.post("/v1/plans", plan_body())
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["base_price"] == 2900
    assert plan["currency"] == "USD"
    assert plan["tier"] == "pro"
    assert plan["charges"][0]["rate_card"] == {"type": "per_unit", "unit_price": "0.5"}

    listed = await tenant.get("/v1/plans")
    assert [p["id"] for p in listed.json()["items"]] == [plan["id"]]
    assert (await tenant.get(f"/v1/plans/{plan['id']}")).json()["code"] == "pro-monthly"


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
    tenant: Tenant, overrides: dict[str, Any], field: str
) -> None:
    await make_meter(tenant)
    response = await tenant.post("/v1/plans", plan_body(**overrides))
    body = assert_problem(response, 422, "validation-failed")
    assert field in response.text
    assert "Traceback" not in str(body)


async def test_plan_with_unknown_meter_is_422(tenant: Tenant) -> None:
    assert_problem(await tenant.post("/v1/plans", plan_body()), 422, "validation-failed")


async def test_duplicate_plan_code_is_409(tenant: Tenant) -> None:
    await make_meter(tenant)
    assert (await tenant.post("/v1/plans", plan_body())).status_code == 201
    assert_problem(await tenant.post("/v1/plans", plan_body()), 409, "conflict")


async def test_plans_of_another_tenant_are_invisible(engine_app: EngineApp) -> None:
    alice, bob = engine_app.tenant(), engine_app.tenant()
    await make_meter(alice)
    plan = (await alice.post("/v1/plans", plan_body())).json()
    assert_problem(await bob.get(f"/v1/plans/{plan['id']}"), 404, "not-found")
    assert (await bob.get("/v1/plans")).json()["items"] == []
    # The same code is free in another tenant.
    await make_meter(bob)
    assert (await bob.post("/v1/plans", plan_body())).status_code == 201

"""The caller's tenant and its members: roles (only owners make owners or change roles, a tenant
always keeps an active owner, even under concurrent changes), another tenant's member not found,
``v100 tenant create``, and the migrations agreeing with the models."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from v100.cli import app as cli
from v100.kit.db import create_engine, migrate, schema_drift, unit_of_work
from v100.kit.http import Runtime
from v100.kit.testing.http import running_app
from v100.services.gateway.app import DATABASE, create_app
from v100.services.gateway.identity.models import User
from v100.services.gateway.identity.repository import UserRepository
from v100.services.gateway.testing import (
    JWT_SECRET,
    PASSWORD,
    Account,
    Gateway,
    assert_problem,
    gateway_settings_for,
    unique_email,
)

# One gateway per backend for the module (conftest.py): its tests run on the module's loop.
pytestmark = [pytest.mark.time_sensitive, pytest.mark.asyncio(loop_scope="module")]

MEMBERS = "/v1/tenants/current/members"


async def members(gateway: Gateway, account: Account, **params: Any) -> dict[str, Any]:
    response = await gateway.http.get(MEMBERS, params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def patch(gateway: Gateway, by: Account, user_id: str, **body: Any) -> httpx.Response:
    return await gateway.http.patch(f"{MEMBERS}/{user_id}", json=body, headers=by.headers)


async def remove(gateway: Gateway, by: Account, user_id: str) -> httpx.Response:
    return await gateway.http.delete(f"{MEMBERS}/{user_id}", headers=by.headers)


async def test_the_current_tenant_and_its_tier(gateway: Gateway) -> None:
    owner = await gateway.signup(tenant_name="Northwind")
    member = await gateway.add_member(owner.headers)
    for account in (owner, member):
        response = await gateway.http.get("/v1/tenants/current", headers=account.headers)
        assert response.status_code == 200
        tenant = response.json()
        assert (tenant["id"], tenant["name"], tenant["tier"]) == (
            owner.tenant_id,
            "Northwind",
            "free",
        )


async def test_members_are_listed_oldest_first_in_pages(gateway: Gateway) -> None:
    owner = await gateway.signup()
    admin = await gateway.add_member(owner.headers, role="admin")
    member = await gateway.add_member(owner.headers, role="member")

    first = await members(gateway, member, limit=2)
    assert [(m["id"], m["role"]) for m in first["items"]] == [
        (owner.user_id, "owner"),
        (admin.user_id, "admin"),
    ]
    assert all("password" not in key for m in first["items"] for key in m)
    second = await members(gateway, member, limit=2, cursor=first["next_cursor"])
    assert [m["id"] for m in second["items"]] == [member.user_id]
    assert second["next_cursor"] is None
    bad = await gateway.http.get(MEMBERS, params={"cursor": "%%%"}, headers=owner.headers)
    assert_problem(bad, 400, "bad-request")


async def test_owners_and_admins_add_members_and_only_owners_add_owners(gateway: Gateway) -> None:
    owner = await gateway.signup()
    admin = await gateway.add_member(owner.headers, role="admin")
    member = await gateway.add_member(admin.headers, role="member")
    assert member.tenant_id == owner.tenant_id

    def body(role: str, email: str | None = None) -> dict[str, str]:
        return {"email": email or unique_email(), "password": PASSWORD, "role": role}

    by_admin = await gateway.http.post(MEMBERS, json=body("owner"), headers=admin.headers)
    assert_problem(by_admin, 403, "forbidden")
    by_member = await gateway.http.post(MEMBERS, json=body("member"), headers=member.headers)
    assert_problem(by_member, 403, "forbidden")
    co_owner = await gateway.http.post(MEMBERS, json=body("owner"), headers=owner.headers)
    assert co_owner.status_code == 201
    assert co_owner.json()["role"] == "owner"

    taken = await gateway.http.post(
        MEMBERS, json=body("member", member.email.upper()), headers=owner.headers
    )
    assert_problem(taken, 409, "conflict")
    for bad in (
        {"email": unique_email(), "password": "short", "role": "member"},
        {"email": unique_email(), "password": PASSWORD, "role": "superuser"},
        {"email": 42, "password": PASSWORD},
    ):
        response = await gateway.http.post(MEMBERS, json=bad, headers=owner.headers)
        assert_problem(response, 422, "validation-failed")
    malformed = await gateway.http.post(
        MEMBERS, content=b"{", headers=owner.headers | {"content-type": "application/json"}
    )
    assert_problem(malformed, 400, "bad-request")


async def test_only_owners_change_roles(gateway: Gateway) -> None:
    owner = await gateway.signup()
    admin = await gateway.add_member(owner.headers, role="admin")
    member = await gateway.add_member(owner.headers, role="member")

    assert_problem(await patch(gateway, admin, member.user_id, role="admin"), 403, "forbidden")
    assert_problem(await patch(gateway, member, member.user_id, role="owner"), 403, "forbidden")
    promoted = await patch(gateway, owner, member.user_id, role="admin")
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "admin"
    # The new role is in the member's next tokens, and with it the right to manage keys.
    again = await gateway.login(member.email)
    keys = await gateway.http.get("/v1/api-keys", headers=again.headers)
    assert keys.status_code == 200
    assert_problem(await patch(gateway, owner, member.user_id), 422, "validation-failed")


async def test_a_tenant_keeps_an_active_owner(gateway: Gateway) -> None:
    owner = await gateway.signup()
    for response in (
        await patch(gateway, owner, owner.user_id, role="admin"),
        await patch(gateway, owner, owner.user_id, disabled=True),
        await remove(gateway, owner, owner.user_id),
    ):
        assert_problem(response, 409, "conflict")

    second = await gateway.add_member(owner.headers, role="owner")
    stepped_down = await patch(gateway, owner, owner.user_id, role="admin")
    assert stepped_down.status_code == 200
    assert_problem(await patch(gateway, second, second.user_id, role="member"), 409, "conflict")
    # An owner who is disabled does not count: the active one stays the last.
    third = await gateway.add_member(second.headers, role="owner")
    assert (await patch(gateway, second, third.user_id, disabled=True)).status_code == 200
    assert_problem(await remove(gateway, second, second.user_id), 409, "conflict")
    assert (await remove(gateway, second, third.user_id)).status_code == 200


async def test_concurrent_demotions_still_leave_an_owner(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await gateway.signup()
    second = await gateway.add_member(first.headers, role="owner")

    # Each request counts the owners before demoting. Hold the first count until the second
    # request arrives at its own (or half a second passes): if nothing serialized the two,
    # both would count two owners and both demotions would pass.
    arrived = 0
    both = asyncio.Event()
    count_owners = UserRepository.count_active_owners

    async def rendezvous(self: UserRepository, tenant_id: str) -> int:
        nonlocal arrived
        arrived += 1
        if arrived == 2:
            both.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both.wait(), 0.5)
        return await count_owners(self, tenant_id)

    monkeypatch.setattr(UserRepository, "count_active_owners", rendezvous)
    answers = await asyncio.gather(
        patch(gateway, first, second.user_id, role="member"),
        patch(gateway, second, first.user_id, role="member"),
    )
    assert sorted(answer.status_code for answer in answers) == [200, 409]

    runtime: Runtime = gateway.app.state.runtime
    assert runtime.sessions is not None
    async with unit_of_work(runtime.sessions) as session:
        owners = await session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.tenant_id == first.tenant_id, User.role == "owner")
        )
    assert owners == 1


async def test_admins_cannot_touch_owners(gateway: Gateway) -> None:
    owner = await gateway.signup()
    admin = await gateway.add_member(owner.headers, role="admin")
    member = await gateway.add_member(owner.headers, role="member")
    assert_problem(await patch(gateway, admin, owner.user_id, disabled=True), 403, "forbidden")
    assert_problem(await remove(gateway, admin, owner.user_id), 403, "forbidden")
    assert_problem(await remove(gateway, member, admin.user_id), 403, "forbidden")
    assert (await patch(gateway, admin, member.user_id, disabled=True)).status_code == 200


async def test_removing_a_member_ends_their_access(gateway: Gateway) -> None:
    owner = await gateway.signup()
    member = await gateway.add_member(owner.headers)
    removed = await remove(gateway, owner, member.user_id)
    assert removed.json() == {"user_id": member.user_id, "revoked_api_keys": []}
    listed = await members(gateway, owner)
    assert [m["id"] for m in listed["items"]] == [owner.user_id]
    login = await gateway.http.post(
        "/v1/auth/login", json={"email": member.email, "password": PASSWORD}
    )
    assert_problem(login, 401, "unauthorized")
    refreshed = await gateway.http.post(
        "/v1/auth/refresh", json={"refresh_token": member.refresh_token}
    )
    assert_problem(refreshed, 401, "unauthorized")
    assert_problem(await remove(gateway, owner, member.user_id), 404, "not-found")
    # The address is free again.
    again = await gateway.add_member(owner.headers, email=member.email)
    assert again.user_id != member.user_id


async def test_a_removed_admins_unexpired_token_has_no_power(gateway: Gateway) -> None:
    owner = await gateway.signup()
    admin = await gateway.add_member(owner.headers, role="admin")
    key = await gateway.create_key(admin.headers, scopes=["videos:read"], name="encoder")
    removed = await remove(gateway, owner, admin.user_id)
    assert removed.status_code == 200
    listed = removed.json()["revoked_api_keys"]
    assert [(k["id"], k["name"]) for k in listed] == [(key["id"], "encoder")]
    # Before, this 15-minute token still added an admin (201) who could then log in.
    body = {"email": unique_email("intruder"), "password": PASSWORD, "role": "admin"}
    added = await gateway.http.post(MEMBERS, json=body, headers=admin.headers)
    assert "no longer a member" in assert_problem(added, 401, "unauthorized")["detail"]
    assert_problem(await gateway.http.get("/v1/tenants/current", headers=admin.headers), 401,
                   "unauthorized")  # fmt: skip


async def test_a_demoted_admins_unexpired_token_acts_with_the_new_role(gateway: Gateway) -> None:
    owner = await gateway.signup()
    admin = await gateway.add_member(owner.headers, role="admin")
    assert (await patch(gateway, owner, admin.user_id, role="member")).status_code == 200
    # Before, this token minted a ["*"] key that kept working.
    minted = await gateway.http.post(
        "/v1/api-keys", json={"name": "k", "scopes": ["*"]}, headers=admin.headers
    )
    assert_problem(minted, 403, "forbidden")
    body = {"email": unique_email("x"), "password": PASSWORD, "role": "member"}
    assert_problem(await gateway.http.post(MEMBERS, json=body, headers=admin.headers), 403,
                   "forbidden")  # fmt: skip
    # Promoted again: the same token has the power back, with no new login.
    assert (await patch(gateway, owner, admin.user_id, role="admin")).status_code == 200
    assert (await gateway.http.get("/v1/api-keys", headers=admin.headers)).status_code == 200


async def test_a_disabled_members_token_stops_until_enabled(gateway: Gateway) -> None:
    owner = await gateway.signup()
    member = await gateway.add_member(owner.headers)
    assert (await patch(gateway, owner, member.user_id, disabled=True)).status_code == 200
    current = await gateway.http.get("/v1/tenants/current", headers=member.headers)
    assert "disabled" in assert_problem(current, 401, "unauthorized")["detail"]
    assert (await patch(gateway, owner, member.user_id, disabled=False)).status_code == 200
    assert (
        await gateway.http.get("/v1/tenants/current", headers=member.headers)
    ).status_code == 200


async def test_another_tenants_members_are_not_found(gateway: Gateway) -> None:
    alice = await gateway.signup()
    alices_member = await gateway.add_member(alice.headers)
    bob = await gateway.signup()
    for response in (
        await patch(gateway, bob, alices_member.user_id, role="admin"),
        await patch(gateway, bob, alices_member.user_id, disabled=True),
        await remove(gateway, bob, alices_member.user_id),
        await patch(gateway, bob, alice.user_id, role="member"),
    ):
        body = assert_problem(response, 404, "not-found")
        assert alices_member.email not in str(body)
    assert [m["id"] for m in (await members(gateway, bob))["items"]] == [bob.user_id]
    # Nothing changed on Alice's side.
    still = await gateway.login(alices_member.email)
    assert still.tenant_id == alice.tenant_id


async def test_members_need_the_tenant_scopes(gateway: Gateway) -> None:
    owner = await gateway.signup()
    reader = (await gateway.create_key(owner.headers, scopes=["tenants:read"]))["key"]
    writer = (await gateway.create_key(owner.headers, scopes=["tenants:*"]))["key"]
    member = {"email": unique_email(), "password": PASSWORD, "role": "member"}
    listed = await gateway.http.get(MEMBERS, headers={"X-API-Key": reader})
    assert listed.status_code == 200
    refused = await gateway.http.post(MEMBERS, json=member, headers={"X-API-Key": reader})
    assert_problem(refused, 403, "forbidden")
    added = await gateway.http.post(MEMBERS, json=member, headers={"X-API-Key": writer})
    assert added.status_code == 201, added.text


# --- v100 tenant create -------------------------------------------------------------------


async def test_v100_tenant_create_makes_a_tenant_its_owner_can_use(
    database_url: str, tmp_path: Path
) -> None:
    settings = gateway_settings_for(database_url, tmp_path)
    env = {
        "V100_VAR_DIR": str(tmp_path),
        "V100_GATEWAY_DATABASE_URL": settings.resolved_database_url,
        "V100_GATEWAY_JWT_SECRET": JWT_SECRET,
        "V100_GATEWAY_PASSWORD_MEMORY_KIB": "1024",
    }
    runner = CliRunner()
    email = unique_email("founder")

    def run(args: list[str], stdin: str | None = None) -> Any:
        return runner.invoke(cli, args, env=env, input=stdin)

    # Without --password it is asked for, twice, and not echoed.
    made = await asyncio.to_thread(
        run, ["tenant", "create", "Globex", "--email", email], f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert made.exit_code == 0, made.output
    assert "created tenant Globex" in made.stdout
    assert PASSWORD not in made.output

    async with running_app(create_app(settings)) as http:
        login = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert login.json()["tenant"]["name"] == "Globex"
        assert login.json()["user"]["role"] == "owner"

    taken = await asyncio.to_thread(
        run, ["tenant", "create", "Other", "--email", email, "--password", PASSWORD]
    )
    assert taken.exit_code == 1
    assert "already exists" in taken.output
    weak = await asyncio.to_thread(
        run, ["tenant", "create", "Other", "--email", unique_email(), "--password", "short"]
    )
    assert weak.exit_code == 1
    assert "password" in weak.output


# --- the schema ---------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["gateway"])
async def test_the_migrations_build_what_the_models_declare(
    service: str, database_url: str
) -> None:
    await migrate(service, database_url, DATABASE.migrations_dir, DATABASE.metadata)
    engine = create_engine(database_url)
    try:
        assert await schema_drift(engine, service, DATABASE.metadata) == []
    finally:
        await engine.dispose()

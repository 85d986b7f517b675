"""API keys: shown once and stored hashed, listed without secrets, scoped no wider than their
creator, revoked or expired keys refused at once, another tenant's key not found, the
in-process cache and its TTL, ``last_used_at``, and ``v100 api-key create``."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from v100.cli import app as cli
from v100.kit.db import unit_of_work
from v100.kit.http import Runtime
from v100.kit.testing.http import running_app
from v100.services.gateway.app import create_app
from v100.services.gateway.identity.models import ApiKey
from v100.services.gateway.settings import GatewaySettings
from v100.services.gateway.testing import (
    JWT_SECRET,
    PASSWORD,
    Gateway,
    assert_problem,
    bearer,
    gateway_settings_for,
    unique_email,
)

# One gateway per backend for the module (conftest.py): its tests run on the module's loop.
pytestmark = [pytest.mark.time_sensitive, pytest.mark.asyncio(loop_scope="module")]


def keyed(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


async def whoami(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await http.get("/v1/tenants/current", headers=headers)


async def stored_keys(gateway: Gateway, tenant_id: str) -> list[ApiKey]:
    """The tenant's key rows (the module's tests share one gateway: other tenants have keys)."""
    runtime: Runtime = gateway.app.state.runtime
    assert runtime.sessions is not None
    async with unit_of_work(runtime.sessions) as session:
        query = select(ApiKey).where(ApiKey.tenant_id == tenant_id)
        return list((await session.execute(query)).scalars())


async def test_a_key_is_shown_once_and_kept_only_as_a_hash(gateway: Gateway) -> None:
    owner = await gateway.signup()
    created = await gateway.create_key(owner.headers, scopes=["tenants:read", "videos:*"])
    secret = created["key"]
    assert secret.startswith("v100_sk_")
    assert len(secret) >= 40
    assert created["prefix"] == secret[:12]
    assert created["scopes"] == ["tenants:read", "videos:*"]
    assert created["created_by"] == owner.user_id

    listed = (await gateway.http.get("/v1/api-keys", headers=owner.headers)).json()
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert "key" not in listed["items"][0]
    assert secret not in str(listed)

    (row,) = await stored_keys(gateway, owner.tenant_id)
    assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) for value in vars(row).values())

    # The key opens the gateway as X-API-Key, and as a Bearer token as OpenAI-style clients
    # send it; either way it acts for its tenant.
    for headers in (keyed(secret), {"Authorization": f"Bearer {secret}"}):
        response = await whoami(gateway.http, headers)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == owner.tenant_id


async def test_keys_are_listed_newest_first_in_pages(gateway: Gateway) -> None:
    owner = await gateway.signup()
    ids = [(await gateway.create_key(owner.headers, name=f"k{n}"))["id"] for n in range(3)]
    first = (await gateway.http.get("/v1/api-keys?limit=2", headers=owner.headers)).json()
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    assert first["next_cursor"]
    second = await gateway.http.get(
        "/v1/api-keys", params={"limit": 2, "cursor": first["next_cursor"]}, headers=owner.headers
    )
    assert [item["id"] for item in second.json()["items"]] == ids[:1]
    assert second.json()["next_cursor"] is None

    bad_cursor = await gateway.http.get("/v1/api-keys?cursor=bm9wZQ", headers=owner.headers)
    assert_problem(bad_cursor, 400, "bad-request")
    too_many = await gateway.http.get("/v1/api-keys?limit=1000", headers=owner.headers)
    assert_problem(too_many, 422, "validation-failed")


async def test_a_revoked_key_is_refused_at_once(gateway: Gateway) -> None:
    owner = await gateway.signup()
    created = await gateway.create_key(owner.headers)
    assert (await whoami(gateway.http, keyed(created["key"]))).status_code == 200  # now cached

    revoke = await gateway.http.delete(f"/v1/api-keys/{created['id']}", headers=owner.headers)
    assert revoke.status_code == 204
    refused = await whoami(gateway.http, keyed(created["key"]))
    assert_problem(refused, 401, "unauthorized")
    assert refused.headers["www-authenticate"] == "Bearer"
    again = await gateway.http.delete(f"/v1/api-keys/{created['id']}", headers=owner.headers)
    assert again.status_code == 204  # revoking is idempotent
    listed = (await gateway.http.get("/v1/api-keys", headers=owner.headers)).json()
    assert listed["items"][0]["revoked_at"] is not None


async def test_an_expired_key_is_refused(gateway: Gateway) -> None:
    owner = await gateway.signup()
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    created = await gateway.create_key(owner.headers, expires_at=soon.isoformat())
    assert (await whoami(gateway.http, keyed(created["key"]))).status_code == 200  # cached
    await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
    expired = await whoami(gateway.http, keyed(created["key"]))
    assert "expired" in assert_problem(expired, 401, "unauthorized")["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "k", "scopes": []},
        {"name": "k", "scopes": "*"},
        {"name": "k", "scopes": ["Videos:read"]},
        {"name": "k", "scopes": ["videos"]},
        {"name": "k", "scopes": ["videos:read:all"]},
        {"name": "k", "scopes": ["vidoes:read"]},
        {"name": "k", "scopes": ["videos:delete"]},
        {"name": "k", "scopes": ["service:credits"]},
        {"name": "k", "scopes": ["operator:billing"]},
        {"name": "k", "scopes": ["service:*"]},
        {"name": "", "scopes": ["*"]},
        {"name": "k", "scopes": ["*"], "expires_at": "2020-01-01T00:00:00Z"},
        {"name": "k", "scopes": ["*"], "expires_at": "2999-01-01T00:00:00"},
        {"name": "k", "scopes": ["*"], "expires_at": "tomorrow"},
    ],
    ids=[
        "no-scopes",
        "scopes-not-a-list",
        "upper-case",
        "no-action",
        "three-parts",
        "unknown-area",
        "unknown-action",
        "platform-scope",
        "operator-scope",
        "platform-wildcard",
        "blank-name",
        "expiry-in-the-past",
        "naive-expiry",
        "expiry-not-a-date",
    ],
)
async def test_bad_key_requests_are_422(gateway: Gateway, body: dict[str, Any]) -> None:
    owner = await gateway.signup()
    response = await gateway.http.post("/v1/api-keys", json=body, headers=owner.headers)
    assert_problem(response, 422, "validation-failed")


async def test_malformed_json_is_400(gateway: Gateway) -> None:
    owner = await gateway.signup()
    headers = owner.headers | {"content-type": "application/json"}
    response = await gateway.http.post("/v1/api-keys", content=b'{"name": ', headers=headers)
    assert_problem(response, 400, "bad-request")


@pytest.mark.parametrize(
    "key", ["v100_sk_not-a-real-key", "sk_live_somebody-elses", "v100_sk_" + "x" * 500]
)
async def test_unknown_and_malformed_keys_are_401(gateway: Gateway, key: str) -> None:
    assert_problem(await whoami(gateway.http, keyed(key)), 401, "unauthorized")


async def test_scopes_limit_what_a_key_may_do(gateway: Gateway) -> None:
    owner = await gateway.signup()
    reader = (await gateway.create_key(owner.headers, scopes=["tenants:read"]))["key"]
    assert (await whoami(gateway.http, keyed(reader))).status_code == 200
    listing = await gateway.http.get("/v1/api-keys", headers=keyed(reader))
    assert "api-keys:read" in assert_problem(listing, 403, "forbidden")["detail"]

    wildcard = (await gateway.create_key(owner.headers, scopes=["api-keys:*"]))["key"]
    assert (await gateway.http.get("/v1/api-keys", headers=keyed(wildcard))).status_code == 200
    assert_problem(await whoami(gateway.http, keyed(wildcard)), 403, "forbidden")


async def test_a_key_cannot_grant_more_than_its_creator_has(gateway: Gateway) -> None:
    owner = await gateway.signup()
    maker = (await gateway.create_key(owner.headers, scopes=["api-keys:write", "videos:read"]))[
        "key"
    ]
    for wider in (["*"], ["videos:*"], ["videos:write"], ["videos:read", "tenants:read"]):
        response = await gateway.http.post(
            "/v1/api-keys", json={"name": "wider", "scopes": wider}, headers=keyed(maker)
        )
        assert_problem(response, 403, "forbidden")
    narrower = await gateway.http.post(
        "/v1/api-keys", json={"name": "ok", "scopes": ["videos:read"]}, headers=keyed(maker)
    )
    assert narrower.status_code == 201, narrower.text
    assert narrower.json()["created_by"] == owner.user_id


async def test_only_owners_and_admins_manage_keys(gateway: Gateway) -> None:
    owner = await gateway.signup()
    key_id = (await gateway.create_key(owner.headers))["id"]
    member = await gateway.add_member(owner.headers, role="member")
    admin = await gateway.add_member(owner.headers, role="admin")

    body = {"name": "mine", "scopes": ["*"]}
    for response in (
        await gateway.http.post("/v1/api-keys", json=body, headers=member.headers),
        await gateway.http.get("/v1/api-keys", headers=member.headers),
        await gateway.http.delete(f"/v1/api-keys/{key_id}", headers=member.headers),
    ):
        assert_problem(response, 403, "forbidden")
    assert (await gateway.http.post("/v1/api-keys", json=body, headers=admin.headers)).is_success
    revoked = await gateway.http.delete(f"/v1/api-keys/{key_id}", headers=admin.headers)
    assert revoked.status_code == 204


async def test_another_tenants_key_is_not_found(gateway: Gateway) -> None:
    alice, bob = await gateway.signup(), await gateway.signup()
    alices = await gateway.create_key(alice.headers)
    response = await gateway.http.delete(f"/v1/api-keys/{alices['id']}", headers=bob.headers)
    assert_problem(response, 404, "not-found")
    assert (await gateway.http.get("/v1/api-keys", headers=bob.headers)).json()["items"] == []
    # Bob's attempt changed nothing; nor can Alice's key reach Bob's tenant.
    alice_view = await whoami(gateway.http, keyed(alices["key"]))
    assert alice_view.json()["id"] == alice.tenant_id
    unknown = await gateway.http.delete("/v1/api-keys/no-such-id", headers=alice.headers)
    assert_problem(unknown, 404, "not-found")


async def test_keys_follow_their_creators_standing(gateway: Gateway) -> None:
    owner = await gateway.signup()
    admin = await gateway.add_member(owner.headers, role="admin")
    key = (await gateway.create_key(admin.headers))["key"]
    assert (await gateway.http.get("/v1/api-keys", headers=keyed(key))).status_code == 200

    member_path = f"/v1/tenants/current/members/{admin.user_id}"
    demote = await gateway.http.patch(member_path, json={"role": "member"}, headers=owner.headers)
    assert demote.status_code == 200
    # The key acts with its creator's current role: no longer one that manages keys.
    assert_problem(await gateway.http.get("/v1/api-keys", headers=keyed(key)), 403, "forbidden")

    disable = await gateway.http.patch(member_path, json={"disabled": True}, headers=owner.headers)
    assert disable.status_code == 200
    assert_problem(await whoami(gateway.http, keyed(key)), 401, "unauthorized")
    enable = await gateway.http.patch(member_path, json={"disabled": False}, headers=owner.headers)
    assert enable.status_code == 200
    assert (await whoami(gateway.http, keyed(key))).status_code == 200

    removed = await gateway.http.delete(member_path, headers=owner.headers)
    assert removed.status_code == 200
    assert_problem(await whoami(gateway.http, keyed(key)), 401, "unauthorized")
    (row,) = await stored_keys(gateway, owner.tenant_id)
    assert row.revoked_at is not None
    assert row.created_by is None


async def test_last_used_at_is_written_in_the_background_at_most_once_a_minute(
    gateway: Gateway,
) -> None:
    owner = await gateway.signup()
    created = await gateway.create_key(owner.headers)
    assert created["last_used_at"] is None
    assert (await whoami(gateway.http, keyed(created["key"]))).status_code == 200

    async def last_used() -> str | None:
        listed = (await gateway.http.get("/v1/api-keys", headers=owner.headers)).json()
        value: str | None = listed["items"][0]["last_used_at"]
        return value

    deadline = time.monotonic() + 10
    while (first := await last_used()) is None:
        assert time.monotonic() < deadline, "last_used_at was never written"
        await asyncio.sleep(0.05)
    for _ in range(5):
        assert (await whoami(gateway.http, keyed(created["key"]))).status_code == 200
    await asyncio.sleep(0.3)
    assert await last_used() == first


async def test_another_replicas_revocation_lands_within_the_cache_ttl(
    gateway: Gateway, tmp_path: Path
) -> None:
    """Two gateways on one database: a revocation made on one reaches the other when that
    one's cached entry expires, and not before (which shows the cache is used at all)."""
    owner = await gateway.signup()
    created = await gateway.create_key(owner.headers)
    ttl = 1.0
    replica_settings = gateway.settings.model_copy(update={"api_key_cache_seconds": ttl})
    async with running_app(create_app(replica_settings)) as replica:
        assert (await whoami(replica, keyed(created["key"]))).status_code == 200
        cached_at = time.monotonic()
        revoke = await gateway.http.delete(f"/v1/api-keys/{created['id']}", headers=owner.headers)
        assert revoke.status_code == 204
        assert_problem(await whoami(gateway.http, keyed(created["key"])), 401, "unauthorized")
        if time.monotonic() - cached_at < ttl * 0.8:
            assert (await whoami(replica, keyed(created["key"]))).status_code == 200
        await asyncio.sleep(max(0.0, ttl - (time.monotonic() - cached_at)) + 0.05)
        assert_problem(await whoami(replica, keyed(created["key"])), 401, "unauthorized")


# --- v100 api-key create ------------------------------------------------------------------


def cli_env(settings: GatewaySettings) -> dict[str, str]:
    return {
        "V100_VAR_DIR": str(settings.platform.var_dir),
        "V100_GATEWAY_DATABASE_URL": settings.resolved_database_url,
        "V100_GATEWAY_JWT_SECRET": JWT_SECRET,
        "V100_GATEWAY_PASSWORD_TIME_COST": "1",
        "V100_GATEWAY_PASSWORD_MEMORY_KIB": "1024",
        "V100_GATEWAY_PASSWORD_PARALLELISM": "1",
    }


async def test_v100_api_key_create_prints_a_working_key_once(
    database_url: str, tmp_path: Path
) -> None:
    settings = gateway_settings_for(database_url, tmp_path)
    env = cli_env(settings)
    runner = CliRunner()
    email = unique_email("ops")

    def run(*args: str) -> Any:
        return runner.invoke(cli, list(args), env=env)

    made = await asyncio.to_thread(
        run, "tenant", "create", "Ops", "--email", email, "--password", PASSWORD
    )
    assert made.exit_code == 0, made.output
    keyed_by_email = await asyncio.to_thread(
        run, "api-key", "create", "--email", email.upper(), "--name", "deploy",
        "--scope", "tenants:read", "--scope", "videos:read", "--expires-in-days", "30",
    )  # fmt: skip
    assert keyed_by_email.exit_code == 0, keyed_by_email.output
    secret = keyed_by_email.stdout.strip()
    assert secret.startswith("v100_sk_")
    assert "cannot be shown again" in keyed_by_email.stderr

    async with running_app(create_app(settings)) as http:
        current = await whoami(http, keyed(secret))
        assert current.status_code == 200, current.text
        tenant_id = current.json()["id"]
        login = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        owner = bearer(login.json()["access_token"])
        listed = (await http.get("/v1/api-keys", headers=owner)).json()["items"]
        assert [(k["name"], k["scopes"]) for k in listed] == [
            ("deploy", ["tenants:read", "videos:read"])
        ]
        assert listed[0]["expires_at"] is not None
        assert secret not in str(listed)

    by_tenant = await asyncio.to_thread(
        run, "api-key", "create", "--tenant-id", tenant_id, "--name", "all"
    )
    assert by_tenant.exit_code == 0, by_tenant.output
    assert by_tenant.stdout.strip().startswith("v100_sk_")
    for bad in (
        ["--tenant-id", "no-such-tenant", "--name", "x"],
        ["--name", "x"],
        ["--email", email, "--name", "x", "--scope", "Not A Scope"],
    ):
        refused = await asyncio.to_thread(run, "api-key", "create", *bad)
        assert refused.exit_code == 1, refused.output
        assert "v100_sk_" not in refused.stdout


async def test_keys_cannot_be_checked_while_the_database_is_away(tmp_path: Path) -> None:
    # Nothing listens on port 1: the database is down from the start.
    settings = gateway_settings_for("postgresql+asyncpg://v100@127.0.0.1:1/v100_gateway", tmp_path)
    async with running_app(create_app(settings), wait_ready=False) as http:
        response = await whoami(http, keyed("v100_sk_" + "a" * 43))
        assert_problem(response, 503, "backend-unavailable")
        assert response.headers["retry-after"] == "1"
        # A made-up key is still refused without the database: no prefix, no lookup.
        assert_problem(await whoami(http, keyed("sk_other")), 401, "unauthorized")

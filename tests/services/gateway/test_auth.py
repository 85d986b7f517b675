"""Sign-up, login, refresh-token rotation and reuse detection, logout, password rehashing, and
the authentication middleware: which credentials open the gateway and which get a 401 problem."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import WebSocket
from sqlalchemy import update
from starlette.types import Message

from v100.kit.auth import InternalTokens, Principal
from v100.kit.db import unit_of_work, utcnow
from v100.kit.errors import Unauthorized
from v100.kit.http import Runtime
from v100.kit.testing.http import running_app
from v100.services.gateway.app import create_app
from v100.services.gateway.identity.credentials import USER_AUDIENCE, AccessTokens
from v100.services.gateway.identity.models import RefreshToken, User
from v100.services.gateway.testing import (
    INTERNAL_SECRET,
    JWT_SECRET,
    PASSWORD,
    Gateway,
    assert_problem,
    bearer,
    unique_email,
)

# One gateway per backend for the module (conftest.py): its tests run on the module's loop.
pytestmark = [pytest.mark.time_sensitive, pytest.mark.asyncio(loop_scope="module")]

# --- sign-up ------------------------------------------------------------------------------


async def test_signup_creates_a_tenant_and_its_owner_and_signs_in(gateway: Gateway) -> None:
    email = unique_email("Founder").replace("founder", "FOUNDER")
    body = {"email": email, "password": PASSWORD, "tenant_name": "  Acme Films  "}
    response = await gateway.http.post("/v1/auth/signup", json=body)
    assert response.status_code == 201, response.text
    signed_in = response.json()
    assert signed_in["token_type"] == "bearer"
    assert signed_in["expires_in"] == 900
    assert signed_in["tenant"]["name"] == "Acme Films"
    assert signed_in["tenant"]["tier"] == "free"
    assert signed_in["user"]["role"] == "owner"
    assert signed_in["user"]["email"] == email.lower()
    assert signed_in["user"]["tenant_id"] == signed_in["tenant"]["id"]
    assert signed_in["refresh_token"].startswith("v100_rt_")

    claims = jwt.decode(
        signed_in["access_token"], JWT_SECRET, algorithms=["HS256"], audience=USER_AUDIENCE
    )
    assert claims["tid"] == signed_in["tenant"]["id"]
    assert claims["sub"] == signed_in["user"]["id"]
    assert claims["exp"] - claims["iat"] == 900

    current = await gateway.http.get(
        "/v1/tenants/current", headers=bearer(signed_in["access_token"])
    )
    assert current.status_code == 200
    assert current.json()["id"] == signed_in["tenant"]["id"]

    runtime: Runtime = gateway.app.state.runtime
    assert runtime.sessions is not None
    async with unit_of_work(runtime.sessions) as session:
        user = await session.get(User, signed_in["user"]["id"])
        assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_a_taken_email_is_a_409_whatever_its_case(gateway: Gateway) -> None:
    account = await gateway.signup()
    again = {"email": account.email.upper(), "password": PASSWORD, "tenant_name": "Other"}
    response = await gateway.http.post("/v1/auth/signup", json=again)
    assert_problem(response, 409, "conflict")


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        (b'{"email": "a@example.com", "password": ', 400, "bad-request"),
        (b"[1, 2, 3]", 422, "validation-failed"),
        ({"email": "a@example.com", "password": "short", "tenant_name": "A"}, 422, None),
        ({"email": "a@example.com", "password": "p" * 1025, "tenant_name": "A"}, 422, None),
        ({"email": 123, "password": PASSWORD, "tenant_name": "A"}, 422, None),
        ({"email": "a@example.com", "password": PASSWORD, "tenant_name": ["A"]}, 422, None),
        ({"email": "not-an-email", "password": PASSWORD, "tenant_name": "A"}, 422, None),
        ({"email": "a@example.com", "password": PASSWORD}, 422, None),
        ({"email": "a@example.com", "password": PASSWORD, "tenant_name": "  "}, 422, None),
        ({"email": "a@example.com", "password": PASSWORD, "tenant_name": "A", "x": 1}, 422, None),
    ],
    ids=[
        "malformed-json",
        "not-an-object",
        "short-password",
        "long-password",
        "email-not-a-string",
        "name-not-a-string",
        "not-an-email",
        "missing-field",
        "blank-name",
        "unknown-field",
    ],
)
async def test_bad_signup_bodies_are_problems(
    gateway: Gateway, body: bytes | dict[str, Any], status: int, slug: str | None
) -> None:
    if isinstance(body, bytes):
        headers = {"content-type": "application/json"}
        response = await gateway.http.post("/v1/auth/signup", content=body, headers=headers)
    else:
        response = await gateway.http.post("/v1/auth/signup", json=body)
    assert_problem(response, status, slug or "validation-failed")


# --- login --------------------------------------------------------------------------------


async def test_login_with_the_right_password_only(gateway: Gateway) -> None:
    account = await gateway.signup()
    again = await gateway.login(account.email.upper())
    assert again.user_id == account.user_id
    assert again.refresh_token != account.refresh_token

    wrong = await gateway.http.post(
        "/v1/auth/login", json={"email": account.email, "password": PASSWORD + "!"}
    )
    unknown = await gateway.http.post(
        "/v1/auth/login", json={"email": unique_email(), "password": PASSWORD}
    )
    # The same answer either way: the response does not tell which addresses have accounts.
    assert (
        assert_problem(wrong, 401, "unauthorized")["detail"]
        == (assert_problem(unknown, 401, "unauthorized")["detail"])
    )


async def test_passwords_are_rehashed_when_the_parameters_change(gateway: Gateway) -> None:
    account = await gateway.signup()
    stronger = gateway.settings.model_copy(update={"password_time_cost": 2})
    async with running_app(create_app(stronger)) as http:
        response = await http.post(
            "/v1/auth/login", json={"email": account.email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
    runtime: Runtime = gateway.app.state.runtime
    assert runtime.sessions is not None
    async with unit_of_work(runtime.sessions) as session:
        user = await session.get(User, account.user_id)
        assert user is not None
    assert ",t=2," in user.password_hash
    # The new hash still opens the account, here and under the old parameters.
    await gateway.login(account.email)


# --- refresh and logout -------------------------------------------------------------------


async def refresh(gateway: Gateway, token: str) -> httpx.Response:
    return await gateway.http.post("/v1/auth/refresh", json={"refresh_token": token})


async def test_refresh_tokens_rotate(gateway: Gateway) -> None:
    account = await gateway.signup()
    token = account.refresh_token
    for _ in range(3):
        response = await refresh(gateway, token)
        assert response.status_code == 200, response.text
        rotated = response.json()
        assert rotated["refresh_token"] != token
        assert rotated["user"]["id"] == account.user_id
        current = await gateway.http.get(
            "/v1/tenants/current", headers=bearer(rotated["access_token"])
        )
        assert current.status_code == 200
        token = rotated["refresh_token"]


async def test_reusing_a_spent_refresh_token_revokes_its_family(gateway: Gateway) -> None:
    account = await gateway.signup()
    other_login = await gateway.login(account.email)
    first = await refresh(gateway, account.refresh_token)
    latest = first.json()["refresh_token"]

    reused = await refresh(gateway, account.refresh_token)
    assert "already used" in assert_problem(reused, 401, "unauthorized")["detail"]
    # The thief's copy and the rightful holder's newest token are both dead now...
    assert_problem(await refresh(gateway, latest), 401, "unauthorized")
    # ...and the revocation was committed, not rolled back with the 401.
    assert_problem(await refresh(gateway, latest), 401, "unauthorized")
    # Another login of the same user is another family, untouched.
    assert (await refresh(gateway, other_login.refresh_token)).status_code == 200


async def test_racing_refreshes_with_one_token_cannot_both_succeed(gateway: Gateway) -> None:
    account = await gateway.signup()
    answers = await asyncio.gather(*(refresh(gateway, account.refresh_token) for _ in range(4)))
    succeeded = [answer for answer in answers if answer.status_code == 200]
    assert len(succeeded) <= 1
    for answer in answers:
        if answer.status_code != 200:
            assert_problem(answer, 401, "unauthorized")
    for answer in succeeded:  # the race looked like reuse, so the family is revoked
        assert_problem(await refresh(gateway, answer.json()["refresh_token"]), 401, "unauthorized")


async def test_expired_and_unknown_refresh_tokens_are_refused(gateway: Gateway) -> None:
    account = await gateway.signup()
    runtime: Runtime = gateway.app.state.runtime
    assert runtime.sessions is not None
    async with unit_of_work(runtime.sessions) as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.tenant_id == account.tenant_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    expired = await refresh(gateway, account.refresh_token)
    assert "expired" in assert_problem(expired, 401, "unauthorized")["detail"]
    assert_problem(await refresh(gateway, "v100_rt_made-up"), 401, "unauthorized")
    assert_problem(await refresh(gateway, ""), 422, "validation-failed")


async def test_logout_ends_the_login(gateway: Gateway) -> None:
    account = await gateway.signup()
    rotated = (await refresh(gateway, account.refresh_token)).json()["refresh_token"]
    other_login = await gateway.login(account.email)

    response = await gateway.http.post("/v1/auth/logout", json={"refresh_token": rotated})
    assert response.status_code == 204
    assert_problem(await refresh(gateway, rotated), 401, "unauthorized")
    # Logging out twice, or with a token nobody issued, is not an error.
    again = await gateway.http.post("/v1/auth/logout", json={"refresh_token": rotated})
    assert again.status_code == 204
    unknown = await gateway.http.post("/v1/auth/logout", json={"refresh_token": "nope"})
    assert unknown.status_code == 204
    assert (await refresh(gateway, other_login.refresh_token)).status_code == 200


async def test_a_disabled_user_can_neither_log_in_nor_refresh(gateway: Gateway) -> None:
    owner = await gateway.signup()
    member = await gateway.add_member(owner.headers)
    response = await gateway.http.patch(
        f"/v1/tenants/current/members/{member.user_id}",
        json={"disabled": True},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    login = await gateway.http.post(
        "/v1/auth/login", json={"email": member.email, "password": PASSWORD}
    )
    assert_problem(login, 401, "unauthorized")
    assert_problem(await refresh(gateway, member.refresh_token), 401, "unauthorized")


# --- the middleware -----------------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "v100-gateway",
        "aud": USER_AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "sub": "u-1",
        "tid": "t-1",
        "scp": ["*"],
        "role": "owner",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


ALICE = Principal(tenant_id="t-1", user_id="u-1", scopes=frozenset({"*"}), role="owner")
BAD_AUTHORIZATIONS: dict[str, str | None] = {
    "missing": None,
    "empty-bearer": "Bearer ",
    "basic": "Basic dXNlcjpwYXNz",
    "garbage": "Bearer not-a-jwt",
    "forged": f"Bearer {AccessTokens('f' * 40, 900).mint(ALICE).token}",
    "expired": f"Bearer {AccessTokens(JWT_SECRET, 900).mint(ALICE, now=time.time() - 3600).token}",
    "alg-none": f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}.",
    "hs512": "Bearer " + jwt.encode(_claims(), JWT_SECRET, algorithm="HS512"),
    "no-subject": "Bearer " + jwt.encode(_claims(sub=None), JWT_SECRET, algorithm="HS256"),
    "no-expiry": "Bearer " + jwt.encode(_claims(exp=None), JWT_SECRET, algorithm="HS256"),
    # An internal token is no user token: not with its own secret...
    "internal-token": f"Bearer {InternalTokens(INTERNAL_SECRET).mint(ALICE)}",
    # ...and not even signed with the gateway's JWT secret: the audience differs.
    "internal-audience": f"Bearer {InternalTokens(JWT_SECRET).mint(ALICE)}",
}


@pytest.mark.parametrize("authorization", BAD_AUTHORIZATIONS.values(), ids=BAD_AUTHORIZATIONS)
async def test_requests_without_valid_credentials_get_401(
    gateway: Gateway, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    for method, path in [("GET", "/v1/tenants/current"), ("GET", "/v1/api-keys")]:
        response = await gateway.http.request(method, path, headers=headers)
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"


async def test_a_good_token_passes_and_two_credentials_do_not(gateway: Gateway) -> None:
    account = await gateway.signup()
    good = jwt.encode(
        _claims(sub=account.user_id, tid=account.tenant_id), JWT_SECRET, algorithm="HS256"
    )
    assert (await gateway.http.get("/v1/tenants/current", headers=bearer(good))).status_code == 200
    both = bearer(good) | {"X-API-Key": "v100_sk_whatever"}
    assert_problem(await gateway.http.get("/v1/tenants/current", headers=both), 401, "unauthorized")


async def test_public_paths_need_no_credentials(gateway: Gateway) -> None:
    assert (await gateway.http.get("/health")).status_code == 200
    assert (await gateway.http.get("/ready")).status_code == 200
    assert (await gateway.http.get("/metrics")).status_code == 200
    # Reaches the endpoint (which finds the body lacking) rather than the 401.
    login = await gateway.http.post("/v1/auth/login", json={})
    assert_problem(login, 422, "validation-failed")


def test_a_user_token_is_refused_where_an_internal_token_is_expected() -> None:
    user_token = AccessTokens(JWT_SECRET, 900).mint(ALICE).token
    with pytest.raises(Unauthorized):
        InternalTokens(JWT_SECRET).verify(user_token)  # even with the very same secret


async def _websocket(gateway: Gateway, path: str, headers: dict[str, str]) -> list[Message]:
    """Opens a WebSocket straight through the app's ASGI interface and returns what it sent."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    await inbox.put({"type": "websocket.connect"})
    sent: list[Message] = []

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "websocket.close":
            await inbox.put({"type": "websocket.disconnect", "code": 1000})

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "server": ("gateway", 80),
        "client": ("127.0.0.1", 50000),
        "subprotocols": [],
        "state": {},
    }
    await asyncio.wait_for(gateway.app(scope, receive, send), timeout=10)
    return sent


async def test_websockets_are_authenticated_before_the_handshake(gateway: Gateway) -> None:
    async def whoami(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"tenant_id": websocket.state.principal.tenant_id})
        await websocket.close()

    gateway.app.add_api_websocket_route("/v1/test-whoami", whoami)
    account = await gateway.signup()

    refused = await _websocket(gateway, "/v1/test-whoami", {})
    assert refused == [
        {"type": "websocket.close", "code": 1008, "reason": "Authentication required"}
    ]
    forged = {"Authorization": BAD_AUTHORIZATIONS["forged"] or ""}
    assert (await _websocket(gateway, "/v1/test-whoami", forged))[0]["code"] == 1008

    accepted = await _websocket(gateway, "/v1/test-whoami", account.headers)
    assert accepted[0]["type"] == "websocket.accept"
    assert json.loads(accepted[1]["text"]) == {"tenant_id": account.tenant_id}

"""Helpers for tests that drive the gateway over HTTP (its own tests and end-to-end tests
through it): settings with cheap Argon2, a client helper that signs tenants up, logs members in
and creates API keys, and the problem+json assertion."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from v100.kit.settings import PlatformSettings
from v100.services.gateway.settings import GatewaySettings

__all__ = [
    "INTERNAL_SECRET",
    "JWT_SECRET",
    "PASSWORD",
    "Account",
    "Gateway",
    "assert_problem",
    "bearer",
    "gateway_settings_for",
    "unique_email",
]

# Test values, not secrets of anything real. The JWT secret is 64 bytes so HS512 forgeries made
# with it in tests do not warn about a short key.
INTERNAL_SECRET = "internal-secret-for-gateway-tests-0123456789"  # noqa: S105
JWT_SECRET = "gateway-jwt-secret-for-tests-" + "0123456789abcdef" * 3
PASSWORD = "correct horse battery staple"  # noqa: S105
CHEAP_ARGON2 = {"password_time_cost": 1, "password_memory_kib": 1024, "password_parallelism": 1}
# Every test signs up and logs in from 127.0.0.1, and with Redis the limits outlive one test:
# the password routes' limits are tested on their own (test_auth_throttle.py).
UNTHROTTLED = {
    "login_per_address_per_minute": 100_000,
    "login_per_account_per_minute": 100_000,
    "signup_per_address_per_hour": 100_000,
    "refresh_per_address_per_minute": 100_000,
}


def unique_email(name: str = "user") -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with this status and stable type, and no internals."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == f"/problems/{slug}"
    assert "Traceback" not in response.text
    return body


@dataclass
class Account:
    """A signed-up owner: their tenant, user and tokens."""

    email: str
    password: str
    tenant_id: str
    user_id: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


@dataclass
class Gateway:
    app: FastAPI
    http: httpx.AsyncClient
    settings: GatewaySettings

    async def signup(
        self, email: str | None = None, password: str = PASSWORD, tenant_name: str = "Acme"
    ) -> Account:
        email = email or unique_email("owner")
        body = {"email": email, "password": password, "tenant_name": tenant_name}
        response = await self.http.post("/v1/auth/signup", json=body)
        assert response.status_code == 201, response.text
        return self._account(email, password, response.json())

    async def login(self, email: str, password: str = PASSWORD) -> Account:
        response = await self.http.post(
            "/v1/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        return self._account(email, password, response.json())

    async def add_member(
        self, by: dict[str, str], role: str = "member", email: str | None = None
    ) -> Account:
        """Add a member through the API, then log them in."""
        email = email or unique_email(role)
        body = {"email": email, "password": PASSWORD, "role": role}
        response = await self.http.post("/v1/tenants/current/members", json=body, headers=by)
        assert response.status_code == 201, response.text
        return await self.login(email)

    async def create_key(
        self, by: dict[str, str], scopes: Sequence[str] = ("*",), **fields: Any
    ) -> dict[str, Any]:
        body = {"name": fields.pop("name", "ci"), "scopes": list(scopes), **fields}
        response = await self.http.post("/v1/api-keys", json=body, headers=by)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    @staticmethod
    def _account(email: str, password: str, body: dict[str, Any]) -> Account:
        return Account(
            email=email,
            password=password,
            tenant_id=body["tenant"]["id"],
            user_id=body["user"]["id"],
            access_token=body["access_token"],
            refresh_token=body["refresh_token"],
        )


def gateway_settings_for(database_url: str, var_dir: Path, **overrides: Any) -> GatewaySettings:
    platform = PlatformSettings(var_dir=var_dir, internal_token_secret=INTERNAL_SECRET)
    values: dict[str, Any] = {"jwt_secret": JWT_SECRET, **CHEAP_ARGON2, **UNTHROTTLED, **overrides}
    return GatewaySettings(platform=platform, database_url=database_url, **values)

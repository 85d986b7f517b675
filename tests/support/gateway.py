"""The real gateway in front of one service under test, as a customer reaches it: every other
upstream a dead address, a tenant signed up, and an API key of that tenant."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from v100.contracts.topology import SERVICES
from v100.kit.settings import PlatformSettings
from v100.kit.testing.servers import dead_url, serving
from v100.services.gateway.app import create_app as create_gateway
from v100.services.gateway.settings import GatewaySettings
from v100.services.gateway.testing import UNTHROTTLED


@asynccontextmanager
async def gateway_in_front_of(
    service: str,
    service_url: str,
    var_dir: Path,
    *,
    internal_secret: str,
    scopes: Iterable[str] = ("*",),
) -> AsyncIterator[tuple[str, str]]:
    """The gateway routing ``service``'s prefixes to ``service_url`` (signing with
    ``internal_secret``, as the service verifies); (its URL, an API key with ``scopes``)."""
    async with gateway_in_front_of_services(
        {service: service_url}, var_dir, internal_secret=internal_secret, scopes=scopes
    ) as answer:
        yield answer


@asynccontextmanager
async def gateway_in_front_of_services(
    services: Mapping[str, str],
    var_dir: Path,
    *,
    internal_secret: str,
    scopes: Iterable[str] = ("*",),
    port: int | None = None,
) -> AsyncIterator[tuple[str, str]]:
    """The gateway routing each named service's prefixes to its URL, every other upstream a
    dead address; (its URL, an API key with ``scopes``). ``port``: where it listens, for
    services that must name it as their public URL before it starts."""
    nowhere = dead_url()
    upstreams = {info.name: nowhere for info in SERVICES if info.name != "gateway"}
    upstreams.update(services)
    service = "-".join(sorted(services))
    settings = GatewaySettings(
        platform=PlatformSettings(var_dir=var_dir, internal_token_secret=internal_secret),
        database_url=f"sqlite+aiosqlite:///{var_dir}/gateway.db",
        jwt_secret=f"gateway-jwt-secret-for-{service}-tests-0123456789",
        password_time_cost=1,
        password_memory_kib=1024,
        password_parallelism=1,
        upstreams=upstreams,
        **UNTHROTTLED,
    )
    async with (
        serving(create_gateway(settings), ready=True, port=port) as url,
        httpx.AsyncClient(base_url=url, timeout=60) as http,
    ):
        signup = await http.post(
            "/v1/auth/signup",
            json={
                "email": f"{service}-{uuid.uuid4().hex[:8]}@example.com",
                "password": "correct horse battery staple",
                "tenant_name": service,
            },
        )
        assert signup.status_code == 201, signup.text
        token = signup.json()["access_token"]
        key = await http.post(
            "/v1/api-keys",
            json={"name": "test", "scopes": list(scopes)},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert key.status_code == 201, key.text
        yield url, key.json()["key"]

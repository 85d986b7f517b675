"""A service under test on each backend pair with a real billing app beside it, as the media
services' tests run (media_processor, video_processing): embedded (SQLite, local disk) and
distributed (PostgreSQL, S3 on SeaweedFS), billing served on loopback so that credit holds are
real; the tenant's balance as billing tells it; the environment a ``v100`` process of the
service needs to join the same backend."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from v100.contracts.billing import BillingClient
from v100.kit.auth import InternalTokens, Principal
from v100.kit.db import drop_database
from v100.kit.http import ServiceClient
from v100.kit.settings import PlatformSettings
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.testing.servers import serving
from v100.kit.testing.storage import empty_s3_prefix, s3_settings_or_skip
from v100.services.billing.app import create_app as create_billing
from v100.services.billing.settings import BillingSettings

BACKENDS = ["embedded", "distributed"]


def new_tenant() -> str:
    return str(uuid.uuid4())


def tenant_principal(tenant_id: str) -> Principal:
    return Principal(tenant_id=tenant_id, user_id="u1", scopes=frozenset({"*"}))


def tenant_headers(tokens: InternalTokens, tenant_id: str) -> dict[str, str]:
    """An internal token for a user of ``tenant_id`` with every scope."""
    return {"Authorization": f"Bearer {tokens.mint(tenant_principal(tenant_id))}"}


@dataclass(frozen=True)
class Backend:
    name: str
    platform: PlatformSettings
    billing_database_url: str

    def environment(self, **service: str) -> dict[str, str]:
        """The environment of a ``v100`` process on this backend (``service`` adds the
        service's own variables, named in full); Redis left out: the in-process bus."""
        platform = self.platform
        env = {
            "V100_VAR_DIR": str(platform.var_dir),
            "V100_INTERNAL_TOKEN_SECRET": platform.resolved_internal_token_secret,
            "V100_DATABASE_URL": platform.database_url,
            "V100_STORAGE_URL": platform.storage_url,
            "V100_LOG_LEVEL": "WARNING",
        }
        if platform.s3_endpoint_url:
            assert platform.s3_access_key_id
            assert platform.s3_secret_access_key
            env["V100_S3_ENDPOINT_URL"] = platform.s3_endpoint_url
            env["V100_S3_ACCESS_KEY_ID"] = platform.s3_access_key_id
            env["V100_S3_SECRET_ACCESS_KEY"] = platform.s3_secret_access_key.get_secret_value()
        return env | service


@asynccontextmanager
async def billed_backend(
    name: str, service: str, internal_secret: str, tmp_path: Path
) -> AsyncIterator[Backend]:
    """``name`` is "embedded" or "distributed" (skipped when PostgreSQL or S3 is not given):
    databases of the test's own for ``service`` and billing, dropped afterwards, and an S3
    prefix of its own, emptied afterwards."""
    if name == "embedded":
        platform = PlatformSettings(
            var_dir=tmp_path,
            internal_token_secret=internal_secret,
            database_url=f"sqlite+aiosqlite:///{tmp_path}/{{service}}.db",
            storage_url=f"file://{tmp_path}/objects",
        )
        yield Backend(name, platform, f"sqlite+aiosqlite:///{tmp_path}/billing.db")
        return
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("V100_TEST_POSTGRES_URL is not set")
    s3 = s3_settings_or_skip()
    urls = {name: fresh_postgres_url(admin) for name in (service, "billing")}
    prefix = f"v100test-{uuid.uuid4().hex[:12]}"
    platform = PlatformSettings(
        var_dir=tmp_path,
        internal_token_secret=internal_secret,
        database_url=urls[service],
        storage_url=f"s3://{s3['bucket']}/{prefix}",
        s3_endpoint_url=s3["endpoint_url"],
        s3_access_key_id=s3["access_key_id"],
        s3_secret_access_key=s3["secret_access_key"],
    )
    try:
        yield Backend(name, platform, urls["billing"])
    finally:
        for url in urls.values():
            await drop_database(url)
        await empty_s3_prefix(prefix)


@asynccontextmanager
async def billing_serving(backend: Backend) -> AsyncIterator[str]:
    """The real billing app on a loopback port (the service calls it over HTTP); its URL."""
    settings = BillingSettings(platform=backend.platform, database_url=backend.billing_database_url)
    async with serving(create_billing(settings), ready=True) as url:
        yield url


async def balance(billing_url: str, tokens: InternalTokens, tenant_id: str) -> tuple[int, int]:
    """The tenant's (available, held) credits, as the real billing app tells them."""
    client = ServiceClient(billing_url, tokens)
    try:
        answer = await BillingClient(client).balance(tenant_principal(tenant_id))
    finally:
        await client.aclose()
    return answer.available, answer.held

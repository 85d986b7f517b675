"""A service under test on each backend pair with a real billing app beside it, as the media
services' tests run (media_processor, video_processing): embedded (SQLite, local disk) and
distributed (PostgreSQL, S3 on SeaweedFS), billing served on loopback so that credit holds are
real (one per test, or ``SharedBilling``: one per backend for the session); the tenant's balance
as billing tells it; the environment a ``v100`` process of the service needs to join the same
backend."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from v100.contracts.billing import BillingClient
from v100.kit.auth import InternalTokens, Principal
from v100.kit.db import drop_database
from v100.kit.http import ServiceClient
from v100.kit.settings import PlatformSettings
from v100.kit.testing.db import fresh_postgres_url, postgres_admin_url
from v100.kit.testing.servers import serving, serving_in_thread
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


@dataclass(frozen=True)
class Provisioned:
    """A backend's settings and what was made for it: a PostgreSQL database (dropped by
    ``remove``) and an S3 prefix (emptied by ``remove``); none for the embedded backend."""

    platform: PlatformSettings
    database_url: str | None = None
    prefix: str | None = None

    async def remove(self) -> None:
        if self.database_url is not None:
            await drop_database(self.database_url)
        if self.prefix is not None:
            await empty_s3_prefix(self.prefix)


def provision(name: str, internal_secret: str, var_dir: Path) -> Provisioned:
    """``name`` is "embedded" (SQLite and local disk under ``var_dir``) or "distributed" (a
    PostgreSQL database and an S3 prefix of its own; skipped when those servers are not given)."""
    if name == "embedded":
        return Provisioned(
            PlatformSettings(
                var_dir=var_dir,
                internal_token_secret=internal_secret,
                database_url=f"sqlite+aiosqlite:///{var_dir}/{{service}}.db",
                storage_url=f"file://{var_dir}/objects",
            )
        )
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("V100_TEST_POSTGRES_URL is not set")
    s3 = s3_settings_or_skip()
    database_url = fresh_postgres_url(admin)
    prefix = f"v100test-{uuid.uuid4().hex[:12]}"
    platform = PlatformSettings(
        var_dir=var_dir,
        internal_token_secret=internal_secret,
        database_url=database_url,
        storage_url=f"s3://{s3['bucket']}/{prefix}",
        s3_endpoint_url=s3["endpoint_url"],
        s3_access_key_id=s3["access_key_id"],
        s3_secret_access_key=s3["secret_access_key"],
    )
    return Provisioned(platform, database_url, prefix)


@asynccontextmanager
async def billed_backend(name: str, internal_secret: str, tmp_path: Path) -> AsyncIterator[Backend]:
    """``name`` is "embedded" or "distributed" (skipped when PostgreSQL or S3 is not given):
    a database of the test's own for the service, dropped afterwards, and an S3 prefix of its
    own, emptied afterwards."""
    made = provision(name, internal_secret, tmp_path)
    try:
        yield Backend(name, made.platform)
    finally:
        await made.remove()


@asynccontextmanager
async def billing_serving(backend: Backend) -> AsyncIterator[str]:
    """A real billing app of this test's own on a loopback port (the service calls it over
    HTTP), on a database of its own on the backend; its URL."""
    if backend.name == "embedded":
        database_url = f"sqlite+aiosqlite:///{backend.platform.var_dir}/billing.db"
    else:
        admin = postgres_admin_url()
        assert admin is not None  # a distributed backend is skipped without it
        database_url = fresh_postgres_url(admin)
    settings = BillingSettings(platform=backend.platform, database_url=database_url)
    try:
        async with serving(create_billing(settings), ready=True) as url:
            yield url
    finally:
        if backend.name != "embedded":
            await drop_database(database_url)


async def balance(billing_url: str, tokens: InternalTokens, tenant_id: str) -> tuple[int, int]:
    """The tenant's (available, held) credits, as the real billing app tells them."""
    client = ServiceClient(billing_url, tokens)
    try:
        answer = await BillingClient(client).balance(tenant_principal(tenant_id))
    finally:
        await client.aclose()
    return answer.available, answer.held


class SharedBilling:
    """Real billing apps that a whole session shares, one per backend and internal secret, each
    served in a thread of its own; started on first use, stopped (and their databases dropped)
    by ``close``. For tests that need billing only beside the service under test: each test
    works for tenants of its own, so no test sees what another's tenants hold, and none pays
    for a billing start-up (a database made and migrated) of its own."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._servers = ExitStack()
        self._urls: dict[tuple[str, str], str] = {}
        self._databases: list[str] = []

    def url(self, backend: Backend) -> str:
        secret = backend.platform.resolved_internal_token_secret
        key = (backend.name, secret)
        if key not in self._urls:
            var_dir = self._directory / f"{backend.name}-{len(self._urls)}"
            if backend.name == "embedded":
                database_url = f"sqlite+aiosqlite:///{var_dir}/billing.db"
            else:
                admin = postgres_admin_url()
                assert admin is not None  # a distributed backend is skipped without it
                database_url = fresh_postgres_url(admin)
                self._databases.append(database_url)
            platform = PlatformSettings(var_dir=var_dir, internal_token_secret=secret)
            settings = BillingSettings(platform=platform, database_url=database_url)
            self._urls[key] = self._servers.enter_context(
                serving_in_thread(create_billing(settings), ready=True)
            )
        return self._urls[key]

    def close(self) -> None:
        self._servers.close()
        for database_url in self._databases:
            asyncio.run(drop_database(database_url))

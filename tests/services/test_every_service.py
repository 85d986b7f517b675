"""Every one of the 19 services starts, migrates its own database, answers /health, /ready and
/metrics, and turns away callers without an internal token; ``v100 migrate`` migrates them all.
Each test runs embedded (SQLite, disk, in-process) and distributed (PostgreSQL, Redis, S3)."""

from __future__ import annotations

import asyncio
import importlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from v100.cli import app as cli
from v100.contracts.topology import SERVICES, ServiceInfo
from v100.kit.auth import Principal
from v100.kit.db import (
    check_at_head,
    create_engine,
    current_revision,
    drop_database,
    head_revisions,
    version_table,
)
from v100.kit.settings import PlatformSettings
from v100.kit.testing.bus import REDIS_URL_ENV
from v100.kit.testing.db import POSTGRES_URL_ENV
from v100.kit.testing.http import auth_headers, running_app
from v100.kit.testing.storage import s3_settings_or_skip

SECRET = "every-service-test-secret-0123456789abcdef"
NAMES = [info.name for info in SERVICES]
# The services that will keep media objects: their readiness must include the object store.
STORES_OBJECTS = {
    "video_processing",
    "video_analysis",
    "media_processor",
    "recording_processor",
    "stream_proxy",
    "transcription",
    "rag_engine",
    "avatar",
}
ALICE = Principal(tenant_id="t-1", user_id="u-1", scopes=frozenset({"*"}))


def app_module(name: str) -> ModuleType:
    return importlib.import_module(f"v100.services.{name}.app")


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set (scripts/services/*.sh start)")
    return value


@pytest.fixture(params=["embedded", "distributed"])
async def platform(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[PlatformSettings]:
    """Platform settings under ``tmp_path``: the embedded defaults, or the real PostgreSQL,
    Redis and S3 servers (one fresh database per service, an object prefix of the test's own)."""
    if request.param == "embedded":
        yield PlatformSettings(var_dir=tmp_path, internal_token_secret=SECRET)
        return
    admin_url = _required_env(POSTGRES_URL_ENV)
    redis_url = _required_env(REDIS_URL_ENV)
    s3 = s3_settings_or_skip()
    run = uuid.uuid4().hex[:12]
    database_url = make_url(admin_url).set(database=f"v100test_{run}_SERVICE")
    platform = PlatformSettings(
        var_dir=tmp_path,
        internal_token_secret=SECRET,
        # Rendered with a placeholder and then swapped: a URL renderer would escape the braces.
        database_url=database_url.render_as_string(hide_password=False).replace(
            "SERVICE", "{service}"
        ),
        redis_url=redis_url,
        storage_url=f"s3://{s3['bucket']}/v100test-{run}",
        s3_endpoint_url=s3["endpoint_url"],
        s3_access_key_id=s3["access_key_id"],
        s3_secret_access_key=s3["secret_access_key"],
    )
    yield platform
    for name in NAMES:
        await drop_database(platform.database_url.format(service=name, var_dir=tmp_path))


async def assert_migrated_to_head(name: str, database_url: str) -> None:
    module = app_module(name)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        assert version_table(name) in tables
        assert await check_at_head(engine, name, module.DATABASE.migrations_dir)
        heads = head_revisions(module.DATABASE.migrations_dir)
        assert await current_revision(engine, name) == (next(iter(heads)) if heads else None)
    finally:
        await engine.dispose()


def assert_problem(response: httpx.Response, statuses: tuple[int, ...]) -> None:
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == response.status_code
    assert "Traceback" not in response.text


@pytest.mark.parametrize("info", SERVICES, ids=NAMES)
async def test_service_runs_migrates_and_guards_its_routes(
    info: ServiceInfo, platform: PlatformSettings
) -> None:
    module = app_module(info.name)
    # Distributed, the gateway's JWT secret must be set too (a generated one is refused).
    extra = {"jwt_secret": SECRET + "-jwt"} if info.name == "gateway" else {}
    settings = module.Settings(platform=platform, **extra)
    assert settings.port == info.port  # the package and the topology agree
    app = module.create_app(settings)

    async with running_app(app) as http:
        health = await http.get("/health")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "service": info.name}

        ready = await http.get("/ready")
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        assert checks["database"] == "ok"
        assert checks["bus"] == "ok"
        assert ("storage" in checks) == (info.name in STORES_OBJECTS)
        assert set(checks.values()) == {"ok"}

        if info.name == "gateway":
            # The gateway authenticates users and API keys itself; an unknown route is either
            # refused for want of credentials or simply not found, never served.
            assert_problem(await http.get("/v1/no-such-route"), (401, 404))
        else:
            # Its public prefix (or any route, for the worker) needs an internal token.
            anonymous = await http.get((info.prefixes or ("/v1/anything",))[0])
            assert_problem(anonymous, (401,))
            assert anonymous.headers["www-authenticate"] == "Bearer"
            # A valid internal token gets past the guard to the router (no such route yet).
            token = auth_headers(app, ALICE)
            assert_problem(await http.get("/v1/no-such-route", headers=token), (404,))

        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain; version=")
        families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
        requests = families["v100_http_requests"]  # the parser drops the _total suffix
        assert requests.type == "counter"
        assert any(
            sample.labels
            == {"method": "GET", "route": "/health", "service": info.name, "status": "200"}
            and sample.value >= 1
            for sample in requests.samples
        )

    await assert_migrated_to_head(info.name, settings.resolved_database_url)
    if settings.resolved_database_url.startswith("sqlite"):
        assert (platform.var_dir / f"{info.name}.db").is_file()


def test_v100_migrate_migrates_every_service(platform: PlatformSettings) -> None:
    # The platform settings as the environment ``v100`` reads them.
    env = {"V100_VAR_DIR": str(platform.var_dir), "V100_DATABASE_URL": platform.database_url}
    result = CliRunner().invoke(cli, ["migrate"], env=env)
    assert result.exit_code == 0, result.output
    for name in NAMES:
        assert f"migrated {name}" in result.output

    async def check_all() -> None:
        for name in NAMES:
            url = platform.database_url.format(service=name, var_dir=platform.var_dir)
            await assert_migrated_to_head(name, url)

    asyncio.run(check_all())

"""A service whose database or bus goes away reports not-ready, and becomes ready again by itself
when it comes back (issue 2, "Bad input and faults")."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic_settings import SettingsConfigDict

from v100.kit.db import TYPE_ANNOTATION_MAP, DeclarativeBase, service_metadata
from v100.kit.http import DatabaseSpec, ServiceSpec, create_service_app
from v100.kit.settings import PlatformSettings, ServiceSettings
from v100.kit.testing.net import CuttableTcpProxy

MIGRATIONS = Path(__file__).parent / "migrations_sample"


class Base(DeclarativeBase):
    metadata = service_metadata("flaky")
    type_annotation_map = TYPE_ANNOTATION_MAP


class FlakySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_FLAKY_", extra="ignore")
    service: ClassVar[str] = "flaky"


def _target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname
    assert parts.port
    return parts.hostname, parts.port


async def _ready(http: httpx.AsyncClient) -> httpx.Response:
    return await http.get("/ready")


async def _wait_for(http: httpx.AsyncClient, status: int, within: float = 20.0) -> httpx.Response:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        response = await _ready(http)
        if response.status_code == status or asyncio.get_running_loop().time() > deadline:
            return response
        await asyncio.sleep(0.2)


def _app(tmp_path: Path, *, database_url: str | None = None, redis_url: str | None = None):  # type: ignore[no-untyped-def]
    platform = PlatformSettings(
        var_dir=tmp_path, internal_token_secret="r" * 40, redis_url=redis_url
    )
    settings = FlakySettings(platform=platform, database_url=database_url)
    return create_service_app(
        ServiceSpec(settings, title="flaky", database=DatabaseSpec(Base.metadata, MIGRATIONS))
    )


@pytest.mark.skipif(not os.environ.get("V100_TEST_POSTGRES_URL"), reason="needs PostgreSQL")
async def test_database_down_at_start_then_back(tmp_path: Path) -> None:
    admin = os.environ["V100_TEST_POSTGRES_URL"]
    proxy = CuttableTcpProxy(*_target(admin))
    database = f"v100_flaky_{os.getpid()}_{id(tmp_path) % 100000}"
    server = admin.rsplit("/", 1)[0]
    url = server.replace(f":{_target(admin)[1]}", f":{proxy.port}") + f"/{database}"
    app = _app(tmp_path, database_url=url)
    async with app.router.lifespan_context(app):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s")
        down = await _ready(http)  # nothing listens on the proxy's port yet
        assert down.status_code == 503
        assert down.json()["checks"]["database"].startswith("down")
        await proxy.open()
        up = await _wait_for(http, 200)
        assert up.status_code == 200, up.text
        await proxy.cut()  # and away again while running
        assert (await _wait_for(http, 503)).status_code == 503
        await proxy.open()
        assert (await _wait_for(http, 200)).status_code == 200
        await http.aclose()
    await proxy.cut()
    from v100.kit.db import drop_database

    await drop_database(f"{server}/{database}")


async def test_bus_down_then_back(tmp_path: Path, redis_server) -> None:  # type: ignore[no-untyped-def]
    proxy = CuttableTcpProxy("127.0.0.1", redis_server.port)
    await proxy.open()
    app = _app(tmp_path, redis_url=f"redis://127.0.0.1:{proxy.port}/0")
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app.state.runtime.migrated.wait(), 20)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s")
        assert (await _wait_for(http, 200)).status_code == 200
        await proxy.cut()
        down = await _wait_for(http, 503)
        assert down.status_code == 503
        assert down.json()["checks"]["bus"] != "ok"
        assert down.headers["retry-after"] == "1"
        await proxy.open()
        assert (await _wait_for(http, 200)).status_code == 200
        await http.aclose()
    await proxy.cut()

"""The service app factory: health, readiness, metrics, internal auth, and problem+json for every
failure a caller can cause."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import httpx
import jwt
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

from v100.kit.auth import InternalTokens, Principal
from v100.kit.db import TYPE_ANNOTATION_MAP, DeclarativeBase, service_metadata
from v100.kit.errors import Conflict
from v100.kit.http import (
    DatabaseSpec,
    PrincipalDep,
    ServiceSpec,
    SessionDep,
    create_service_app,
)
from v100.kit.settings import PlatformSettings, ServiceSettings
from v100.kit.testing.http import auth_headers, running_app

pytestmark = pytest.mark.time_sensitive

SECRET = "s" * 40
MIGRATIONS = Path(__file__).parent / "migrations_sample"


class Base(DeclarativeBase):
    metadata = service_metadata("sample")
    type_annotation_map = TYPE_ANNOTATION_MAP


class SampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_SAMPLE_", extra="ignore")
    service: ClassVar[str] = "sample"


class Item(BaseModel):
    name: str
    count: int


router = APIRouter()


@router.get("/v1/whoami")
async def whoami(principal: PrincipalDep) -> dict[str, str | None]:
    return {"tenant_id": principal.tenant_id, "user_id": principal.user_id}


@router.post("/v1/items")
async def create_item(item: Item, session: SessionDep) -> Item:
    return item


@router.get("/v1/conflict")
async def conflict() -> None:
    raise Conflict("That name is taken.")


@router.get("/v1/boom")
async def boom() -> None:
    raise RuntimeError("secret internals")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    platform = PlatformSettings(
        var_dir=tmp_path, internal_token_secret=SECRET, max_body_bytes=2048, log_json=True
    )
    settings = SampleSettings(platform=platform)
    app = create_service_app(
        ServiceSpec(
            settings,
            title="sample",
            routers=[router],
            database=DatabaseSpec(Base.metadata, MIGRATIONS),
        )
    )
    async with running_app(app) as http:
        yield app, http


ALICE = Principal(tenant_id="t-1", user_id="u-1", scopes=frozenset({"*"}))


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"] == f"/problems/{slug}"
    assert "Traceback" not in response.text
    return dict(body)


async def test_health_ready_and_metrics(client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, http = client
    assert (await http.get("/health")).json() == {"status": "ok", "service": "sample"}
    ready = await http.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"bus": "ok", "database": "ok"}
    await http.get("/v1/whoami", headers=auth_headers(app, ALICE))
    metrics = (await http.get("/metrics")).text
    assert (
        'v100_http_requests_total{method="GET",route="/v1/whoami",service="sample",status="200"}'
        in metrics
    )


async def test_valid_internal_token_gives_the_principal(
    client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, http = client
    response = await http.get("/v1/whoami", headers=auth_headers(app, ALICE))
    assert response.json() == {"tenant_id": "t-1", "user_id": "u-1"}


def _none_alg_token() -> str:
    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {
        "tid": "t-1",
        "aud": "v100-internal",
        "iss": "v100-gateway",
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
    }
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-jwt",
        f"Bearer {InternalTokens('x' * 40).mint(ALICE)}",  # forged: another secret
        f"Bearer {InternalTokens(SECRET).mint(ALICE, now=time.time() - 3600)}",  # expired
        f"Bearer {_none_alg_token()}",
        "Bearer " + jwt.encode({"tid": "t"}, SECRET, algorithm="HS256"),  # no aud/exp
    ],
    ids=["missing", "basic", "garbage", "forged", "expired", "alg-none", "no-claims"],
)
async def test_requests_without_a_valid_internal_token_get_401(
    client: tuple[FastAPI, httpx.AsyncClient], authorization: str | None
) -> None:
    _, http = client
    headers = {"Authorization": authorization} if authorization else {}
    response = await http.get("/v1/whoami", headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_bad_input_is_problem_json(client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, http = client
    headers = auth_headers(app, ALICE) | {"content-type": "application/json"}
    malformed = await http.post("/v1/items", content=b"{not json", headers=headers)
    assert_problem(malformed, 400, "bad-request")
    wrong_type = await http.post("/v1/items", json={"name": "a", "count": "many"}, headers=headers)
    body = assert_problem(wrong_type, 422, "validation-failed")
    assert body["errors"][0]["loc"] == ["body", "count"]  # type: ignore[index]
    assert_problem(await http.get("/v1/nowhere", headers=headers), 404, "not-found")
    assert_problem(await http.delete("/v1/whoami", headers=headers), 405, "method-not-allowed")
    assert_problem(await http.get("/v1/conflict", headers=headers), 409, "conflict")


async def test_oversized_bodies_get_413(client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, http = client
    headers = auth_headers(app, ALICE) | {"content-type": "application/json"}
    big = json.dumps({"name": "x" * 4096, "count": 1}).encode()
    declared = await http.post("/v1/items", content=big, headers=headers)
    assert_problem(declared, 413, "payload-too-large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(8):
            yield b" " * 1024

    streamed = await http.post("/v1/items", content=chunks(), headers=headers)
    assert_problem(streamed, 413, "payload-too-large")


async def test_unexpected_errors_are_500_problems_without_internals(
    client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, http = client
    response = await http.get("/v1/boom", headers=auth_headers(app, ALICE))
    body = assert_problem(response, 500, "internal")
    assert "secret internals" not in response.text
    assert body["request_id"] == response.headers["x-request-id"]


async def test_request_ids_are_kept_or_made(client: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, http = client
    kept = await http.get("/health", headers={"X-Request-Id": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    made = await http.get("/health", headers={"X-Request-Id": "bad id; drop"})
    assert made.headers["x-request-id"] != "bad id; drop"
    assert len(made.headers["x-request-id"]) == 32

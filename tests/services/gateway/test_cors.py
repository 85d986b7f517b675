"""Browsers at the gateway (cors.py): a preflight carries no credential, so it is answered before
authentication (204 for a listed origin, 403 for another); answers to a listed origin name it
and expose the headers a tus client reads; a bare OPTIONS on the tus endpoint is tus discovery,
204 with the protocol's headers (it answered 401 before, against docs/uploads.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from v100.kit.testing.http import running_app
from v100.services.gateway.app import create_app
from v100.services.gateway.testing import Gateway, assert_problem, gateway_settings_for

APP_ORIGIN = "https://app.example.com"


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    settings = gateway_settings_for(
        f"sqlite+aiosqlite:///{tmp_path}/gateway.db", tmp_path, cors_origins=[APP_ORIGIN]
    )
    app = create_app(settings)
    async with running_app(app) as http:
        yield Gateway(app=app, http=http, settings=settings)


def _preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "tus-resumable, upload-length, x-api-key",
    }


async def test_a_preflight_from_a_listed_origin_is_204_without_credentials(
    gateway: Gateway,
) -> None:
    answer = await gateway.http.options("/v1/uploads", headers=_preflight(APP_ORIGIN))
    assert answer.status_code == 204, answer.text
    assert answer.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "PATCH" in answer.headers["access-control-allow-methods"]
    allowed = answer.headers["access-control-allow-headers"].lower()
    assert {"tus-resumable", "upload-length", "x-api-key"} <= {
        name.strip() for name in allowed.split(",")
    }
    assert answer.headers["tus-resumable"] == "1.0.0"
    assert "creation" in answer.headers["tus-extension"]
    assert answer.headers["vary"] == "Origin"
    # Any route, not only tus: the JSON API's too.
    other = await gateway.http.options("/v1/videos", headers=_preflight(APP_ORIGIN, "GET"))
    assert other.status_code == 204
    assert "tus-resumable" not in other.headers


async def test_a_preflight_from_another_origin_is_refused(gateway: Gateway) -> None:
    answer = await gateway.http.options("/v1/uploads", headers=_preflight("https://evil.test"))
    assert_problem(answer, 403, "forbidden")
    assert "access-control-allow-origin" not in answer.headers


async def test_a_bare_options_on_the_tus_endpoint_is_discovery(gateway: Gateway) -> None:
    answer = await gateway.http.options("/v1/uploads")
    assert answer.status_code == 204
    assert answer.headers["tus-version"] == "1.0.0"
    # Elsewhere a bare OPTIONS is an ordinary request, which needs a credential.
    assert_problem(await gateway.http.options("/v1/videos"), 401, "unauthorized")


async def test_answers_to_a_listed_origin_expose_what_clients_read(gateway: Gateway) -> None:
    owner = await gateway.signup()
    answer = await gateway.http.get(
        "/v1/tenants/current", headers={**owner.headers, "Origin": APP_ORIGIN}
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == APP_ORIGIN
    exposed = answer.headers["access-control-expose-headers"]
    for name in ("Location", "Upload-Offset", "RateLimit-Remaining"):
        assert name in exposed
    stranger = await gateway.http.get(
        "/v1/tenants/current", headers={**owner.headers, "Origin": "https://evil.test"}
    )
    assert stranger.status_code == 200
    assert "access-control-allow-origin" not in stranger.headers

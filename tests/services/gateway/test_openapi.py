"""The merged OpenAPI document at the gateway: its own paths and every routed service's, a tag per
service, colliding component names namespaced with their references rewritten, a service that
is down marked rather than failing the document; and Swagger UI served without a CDN."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from v100.services.gateway.edge.openapi import merge_documents
from v100.services.gateway.edge.proxy.upstreams import Upstreams

from .routing_support import RunningGateway, all_upstreams, echo_serving, gateway_serving


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


@pytest.fixture
async def merged(tmp_path: Path) -> AsyncIterator[tuple[RunningGateway, contextlib.AsyncExitStack]]:
    """billing and billing_engine up (each with its own ``Item``); every other service down."""
    async with contextlib.AsyncExitStack() as services:
        billing_url, _ = await services.enter_async_context(
            echo_serving("/v1/credits", tmp_path / "billing")
        )
        engine_url, _ = await services.enter_async_context(
            echo_serving(
                "/v1/plans",
                tmp_path / "engine",
                item_fields={"name": (str, ...), "price": (int, ...)},
            )
        )
        upstreams = all_upstreams(billing=billing_url, billing_engine=engine_url)
        async with gateway_serving(tmp_path, upstreams, openapi_cache_seconds=0.5) as gateway:
            yield gateway, services


async def test_merged_document_holds_every_routed_path(
    merged: tuple[RunningGateway, contextlib.AsyncExitStack],
) -> None:
    gateway, _ = merged
    async with gateway.client() as http:
        response = await http.get("/openapi.json")  # public: no credentials
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path in ("/v1/credits/echo", "/v1/credits/items", "/v1/plans/echo", "/v1/plans/items"):
        assert path in paths, path
    # The gateway's own routes.
    assert "/v1/auth/signup" in paths
    assert "/v1/status" in paths
    # Only what the gateway routes to a service; never the docs routes themselves.
    assert "/internal/not-routed" not in paths
    assert "/openapi.json" not in paths
    assert "/docs" not in paths

    assert paths["/v1/credits/echo"]["get"]["tags"] == ["billing"]
    assert paths["/v1/plans/items"]["post"]["tags"] == ["billing_engine"]
    assert paths["/v1/status"]["get"]["tags"] == ["gateway"]
    assert paths["/v1/credits/echo"]["get"]["summary"] == "Echo"
    tags = {tag["name"]: tag for tag in doc["tags"]}
    assert {"gateway", "billing", "billing_engine", "video_processing"} <= set(tags)
    # A caller presents the gateway's credentials on a service's routes.
    schemes = doc["components"]["securitySchemes"]
    assert paths["/v1/credits/echo"]["get"]["security"]
    for requirement in paths["/v1/credits/echo"]["get"]["security"]:
        assert set(requirement) <= set(schemes)

    operation_ids = [
        operation["operationId"]
        for item in paths.values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert len(operation_ids) == len(set(operation_ids))


async def test_colliding_components_are_namespaced_and_refs_follow(
    merged: tuple[RunningGateway, contextlib.AsyncExitStack],
) -> None:
    gateway, _ = merged
    async with gateway.client() as http:
        doc = (await http.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    assert set(schemas["Item"]["properties"]) == {"name"}
    assert set(schemas["billing_engine.Item"]["properties"]) == {"name", "price"}
    # Identical definitions are shared, not duplicated.
    assert "HTTPValidationError" in schemas
    assert not any(name.endswith(".HTTPValidationError") for name in schemas)

    def body_ref(path: str) -> str:
        content = doc["paths"][path]["post"]["requestBody"]["content"]
        return str(content["application/json"]["schema"]["$ref"])

    assert body_ref("/v1/credits/items") == "#/components/schemas/Item"
    assert body_ref("/v1/plans/items") == "#/components/schemas/billing_engine.Item"
    for ref in refs(doc):
        resolve(doc, ref)  # every reference points at something


async def test_a_service_that_is_down_is_marked_not_fatal(
    merged: tuple[RunningGateway, contextlib.AsyncExitStack],
) -> None:
    gateway, services = merged
    async with gateway.client() as http:
        first = (await http.get("/openapi.json")).json()
        down = {entry["service"] for entry in first["x-v100-unavailable"]}
        assert "video_processing" in down
        assert not {"billing", "billing_engine"} & down
        tags = {tag["name"]: tag for tag in first["tags"]}
        assert tags["video_processing"]["x-v100-unavailable"] is True
        assert "x-v100-unavailable" not in tags["billing"]

        await services.aclose()  # billing and billing_engine go down
        cached = (await http.get("/openapi.json")).json()
        assert "/v1/credits/echo" in cached["paths"]  # within the TTL: the cached document
        await asyncio.sleep(0.6)
        later = (await http.get("/openapi.json")).json()
    assert "/v1/credits/echo" not in later["paths"]
    assert "/v1/auth/signup" in later["paths"]
    down = {entry["service"] for entry in later["x-v100-unavailable"]}
    assert {"billing", "billing_engine"} <= down


async def test_docs_serve_swagger_ui_from_the_gateway_itself(
    merged: tuple[RunningGateway, contextlib.AsyncExitStack],
) -> None:
    gateway, _ = merged
    async with gateway.client() as http:
        page = await http.get("/docs")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        assert "/openapi.json" in page.text
        assert "cdn.jsdelivr.net" not in page.text
        for asset, kind in (
            ("swagger-ui-bundle.js", "javascript"),
            ("swagger-ui.css", "text/css"),
            ("favicon-32x32.png", "image/png"),
        ):
            assert f"/docs/assets/{asset}" in page.text
            response = await http.get(f"/docs/assets/{asset}")  # before signing in
            assert response.status_code == 200, asset
            assert kind in response.headers["content-type"]
            assert len(response.content) > 100
        unknown = await http.get("/docs/assets/..%2F..%2Fsettings.py", headers=gateway.headers)
        assert unknown.status_code == 404
        redoc = await http.get("/redoc", headers=gateway.headers)
        assert redoc.status_code == 404


def test_namespacing_reaches_a_fixed_point() -> None:
    # The service's X differs from the gateway's only through Y; once Y is renamed X must be too.
    own = {
        "openapi": "3.1.0",
        "paths": {},
        "components": {
            "schemas": {
                "X": {"$ref": "#/components/schemas/Y"},
                "Y": {"type": "string"},
                "Shared": {"type": "boolean"},
            }
        },
    }
    service = {
        "paths": {
            "/v1/credits/x": {
                "get": {
                    "operationId": "get_x",
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/X"}}
                            }
                        }
                    },
                }
            }
        },
        "components": {
            "schemas": {
                "X": {"$ref": "#/components/schemas/Y"},
                "Y": {"type": "integer"},
                "Shared": {"type": "boolean"},
            }
        },
    }
    upstreams = Upstreams({"billing": "http://127.0.0.1:1"}, {"/v1/credits": "billing"})
    doc = merge_documents(own, [(upstreams["billing"], service, None)], upstreams)
    schemas = doc["components"]["schemas"]
    assert schemas["billing.Y"] == {"type": "integer"}
    assert schemas["billing.X"] == {"$ref": "#/components/schemas/billing.Y"}
    assert schemas["X"] == {"$ref": "#/components/schemas/Y"}
    assert "billing.Shared" not in schemas
    response = doc["paths"]["/v1/credits/x"]["get"]["responses"]["200"]
    assert (
        response["content"]["application/json"]["schema"]["$ref"]
        == "#/components/schemas/billing.X"
    )

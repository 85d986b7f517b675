"""The platform's one OpenAPI document and its Swagger UI: the gateway's own schema merged with
each routed service's ``/openapi.json`` (only the paths the gateway routes to it, a tag per
service, colliding component names namespaced), cached briefly; a service that is down is
listed under ``x-v100-unavailable`` instead of failing the document."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from starlette.responses import Response
from swagger_ui_bundle import swagger_ui_path

from v100.kit.errors import NotFound
from v100.kit.http import Provided
from v100.kit.observability import get_logger
from v100.services.gateway.edge.deps import UpstreamsDep
from v100.services.gateway.edge.proxy.upstreams import Upstream, Upstreams

__all__ = ["PUBLIC_PATHS", "MergedDocument", "merge_documents", "router"]

router = APIRouter(include_in_schema=False)
_log = get_logger("v100.openapi")
_FETCH_TIMEOUT = 3.0
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Swagger UI is served from the swagger-ui-bundle-v2 package: no CDN, works offline.
_ASSETS_DIR = Path(str(swagger_ui_path))
_ASSETS = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})
# What a browser loads before anyone has signed in: authentication lets these through.
PUBLIC_PATHS = frozenset({"/openapi.json", "/docs", *(f"/docs/assets/{name}" for name in _ASSETS)})
# Used when the gateway's own schema declares no scheme of its own.
_DEFAULT_SECURITY = {
    "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}

Document = dict[str, Any]


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if not renames:
        return node
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = renames.get(value, value)
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node


def _namespaced_components(
    merged: Document, service: str, components: Document
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The service's components as they enter the merged document, and the ``$ref`` renames.
    A name is namespaced (``billing.Item``) when the document already holds a different
    definition under it; that can change what refers to it, so repeat until nothing moves."""
    taken: dict[str, dict[str, Any]] = merged.setdefault("components", {})
    renamed: set[tuple[str, str]] = set()
    while True:
        renames = {
            f"#/components/{section}/{name}": f"#/components/{section}/{service}.{name}"
            for section, name in renamed
        }
        rewritten = {
            section: {name: _rewrite_refs(value, renames) for name, value in entries.items()}
            for section, entries in components.items()
            if isinstance(entries, dict)
        }
        clashes = {
            (section, name)
            for section, entries in rewritten.items()
            for name, value in entries.items()
            if (section, name) not in renamed
            and name in taken.get(section, {})
            and taken[section][name] != value
        }
        if not clashes:
            break
        renamed |= clashes
    result = {
        section: {
            (f"{service}.{name}" if (section, name) in renamed else name): value
            for name, value in entries.items()
        }
        for section, entries in rewritten.items()
    }
    return result, renames


def _unique_id(operation_id: str, service: str, method: str, taken: set[str]) -> str:
    """Operation ids must be unique in the whole document (client generators key on them)."""
    candidates = [operation_id, f"{service}_{operation_id}", f"{service}_{operation_id}_{method}"]
    chosen = next((c for c in candidates if c not in taken), None)
    number = 2
    while chosen is None:
        candidate = f"{candidates[-1]}_{number}"
        chosen = candidate if candidate not in taken else None
        number += 1
    taken.add(chosen)
    return chosen


def _add_service(
    merged: Document,
    service: str,
    spec: Document,
    keep_path: Callable[[str], bool],
    security: list[dict[str, list[str]]] | None,
    operation_ids: set[str],
) -> None:
    components, renames = _namespaced_components(merged, service, spec.get("components") or {})
    for section, entries in components.items():
        merged["components"].setdefault(section, {}).update(entries)
    for path, item in (spec.get("paths") or {}).items():
        if not keep_path(path):
            continue
        if path in merged["paths"]:
            _log.warning("path served twice; keeping the first", path=path, service=service)
            continue
        item = _rewrite_refs(copy.deepcopy(item), renames)
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            operation["tags"] = [service]
            operation_id = operation.get("operationId")
            if isinstance(operation_id, str):
                operation["operationId"] = _unique_id(operation_id, service, method, operation_ids)
            if security is not None and "security" not in operation:
                operation["security"] = security
        merged["paths"][path] = item


def merge_documents(
    own: Document,
    services: list[tuple[Upstream, Document | None, str | None]],
    upstreams: Upstreams,
) -> Document:
    """One document from the gateway's own and each service's (None with a reason when the
    service could not be asked)."""
    merged: Document = {
        "openapi": own.get("openapi", "3.1.0"),
        "info": {
            "title": "V100 API",
            "version": str(own.get("info", {}).get("version", "1")),
            "description": "Every public route of the platform, as served by the gateway.",
        },
        "paths": {},
        "components": {},
        "tags": [{"name": "gateway", "description": "identity, tenancy, routing"}],
    }
    operation_ids: set[str] = set()
    _add_service(merged, "gateway", own, lambda _path: True, None, operation_ids)
    schemes = merged["components"].setdefault("securitySchemes", {})
    if not schemes:
        schemes.update(copy.deepcopy(_DEFAULT_SECURITY))
    # A service's own schema knows only the internal token; at the gateway a caller presents
    # any of the gateway's credentials instead.
    security: list[dict[str, list[str]]] = [{name: []} for name in schemes]
    unavailable: list[dict[str, str]] = []
    for upstream, spec, reason in services:
        tag: dict[str, Any] = {"name": upstream.name, "description": upstream.summary}
        merged["tags"].append(tag)
        if spec is None:
            tag["x-v100-unavailable"] = True
            tag["description"] = f"{upstream.summary} (unavailable: {reason})"
            unavailable.append({"service": upstream.name, "reason": reason or "unknown"})
            continue

        def routed_here(path: str, name: str = upstream.name) -> bool:
            route = upstreams.route(path)
            return route is not None and route.upstream.name == name

        _add_service(merged, upstream.name, spec, routed_here, security, operation_ids)
    if unavailable:
        merged["x-v100-unavailable"] = unavailable
    return merged


async def _fetch(upstreams: Upstreams, upstream: Upstream) -> tuple[Document | None, str | None]:
    try:
        async with asyncio.timeout(_FETCH_TIMEOUT):
            response = await upstreams.client.get(f"{upstream.base_url}/openapi.json")
            if response.status_code != 200:
                return None, f"/openapi.json answered {response.status_code}"
            document = orjson.loads(response.content)
    except TimeoutError:
        return None, "timed out"
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"[:200]
    if not isinstance(document, dict):
        return None, "/openapi.json is not an object"
    return document, None


class MergedDocument:
    """The serialized document, rebuilt at most once per TTL however many callers ask."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._body: bytes | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self, build: Callable[[], Awaitable[Document]]) -> bytes:
        if self._body is not None and time.monotonic() < self._expires:
            return self._body
        async with self._lock:
            if self._body is None or time.monotonic() >= self._expires:
                self._body = orjson.dumps(await build())
                self._expires = time.monotonic() + self._ttl
            return self._body


@router.get("/openapi.json")
async def merged_openapi(
    request: Request,
    upstreams: UpstreamsDep,
    cache: Annotated[MergedDocument, Depends(Provided(MergedDocument))],
) -> Response:
    """The OpenAPI document of every public route of the platform."""
    app = request.app

    async def build() -> Document:
        routed = upstreams.routed()
        fetched = await asyncio.gather(*(_fetch(upstreams, upstream) for upstream in routed))
        services = [(up, doc, reason) for up, (doc, reason) in zip(routed, fetched, strict=True)]
        return merge_documents(app.openapi(), services, upstreams)

    return Response(await cache.get(build), media_type="application/json")


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    """Swagger UI over the merged document."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="V100 API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon-32x32.png",
        oauth2_redirect_url=None,
    )


@router.get("/docs/assets/{name}")
async def swagger_ui_asset(name: str) -> FileResponse:
    """A Swagger UI file, from the installed bundle."""
    if name not in _ASSETS:
        raise NotFound(f"No documentation asset {name!r}.")
    return FileResponse(_ASSETS_DIR / name, headers={"Cache-Control": "public, max-age=86400"})

"""The cross-tenant matrix, driven by the gateway's merged OpenAPI document: for every operation
on a path with an id, tenant A makes the resource (``factories.py``) and tenant B tries the
operation on it twice: through the gateway with its owner's token, and straight at the owning
service as a platform service acting for B (an internal token with the services' scopes). Every
attempt must answer 403 or 404 and leave A's resource as it was; a shared catalogue entry may be
read, with nothing of A's in it. A path with an id and no factory fails the test: the net grows
with the API, not with what someone remembered."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx

from .factories import FACTORIES, SIGNED, Made
from .support import Platform, Tenant, embedded_platform, owner_of

_METHODS = ("get", "post", "put", "patch", "delete")
REFUSED = {403, 404}


async def _attempt(
    client: httpx.AsyncClient, method: str, url: str, made: Made, headers: dict[str, str]
) -> httpx.Response:
    query = made.bodies.get("query")
    headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    if method in made.content:
        return await client.request(
            method.upper(), url, params=query, content=made.content[method],
            headers={**headers, "Content-Type": "application/octet-stream"},
        )  # fmt: skip
    body = made.bodies.get(method)
    return await client.request(method.upper(), url, params=query, json=body, headers=headers)


async def _as_b(platform: Platform, b: Tenant, path: str, method: str, made: Made) -> list[str]:
    """What went wrong when B tried ``method`` on A's resource at ``path``."""
    url = path.format(**made.params)
    wrong: list[str] = []
    owner = owner_of(path).name
    tries: list[tuple[str, httpx.AsyncClient, dict[str, str]]] = [
        ("gateway", platform.gateway, b.headers)
    ]
    direct = None
    if owner != "gateway":
        direct = platform.direct(owner)
        tries.append((f"{owner} as a service", direct, platform.service_headers(owner, b.id)))
    try:
        for how, client, headers in tries:
            answer = await _attempt(client, method, url, made, headers)
            if made.shared and method == "get":
                if answer.status_code != 200:
                    wrong.append(f"{how} {method.upper()} {path}: {answer.status_code}")
                elif made.check_shared is not None:
                    made.check_shared(answer.json())
                continue
            if made.namespaced is not None and answer.status_code in (200, 201, 204):
                if answer.status_code != 204:
                    made.namespaced(answer.json())  # B's own, under the same name
                continue
            if answer.status_code not in REFUSED:
                wrong.append(
                    f"{how} {method.upper()} {path}: {answer.status_code} {answer.text[:200]}"
                )
    finally:
        if direct is not None:
            await direct.aclose()
    return wrong


async def test_no_tenant_reaches_another_tenants_resources(tmp_path: Path) -> None:
    async with embedded_platform(tmp_path) as platform:
        document = (await platform.gateway.get("/openapi.json")).json()
        assert not document.get("x-v100-unavailable"), document.get("x-v100-unavailable")
        a, b = await platform.signup("Alice Co"), await platform.signup("Bob Co")
        templated = {
            path: [m for m in operations if m in _METHODS]
            for path, operations in document["paths"].items()
            if "{" in path and path not in SIGNED
        }
        missing = sorted(path for path in templated if path not in FACTORIES)
        assert not missing, "paths with an id and no factory in tests/nets/factories.py:\n" + (
            "\n".join(missing)
        )
        wrong: list[str] = []
        a_ids: set[str] = set()
        for path, methods in sorted(templated.items()):
            methods.sort(key=lambda m: m != "get")  # a read first, before B writes anything
            made = await FACTORIES[path](platform, a)
            if not made.shared:
                a_ids |= set(made.params.values())
            for method in methods:
                wrong += await _as_b(platform, b, path, method, made)
            if "get" in methods:
                wrong += await _still_there(platform, a, path, made)
        # Every list B can read names none of A's resources.
        for path, operations in sorted(document["paths"].items()):
            if "{" in path or "get" not in operations or _is_stream(operations["get"]):
                continue
            answer = await platform.gateway.get(path, headers=b.headers)
            if answer.status_code == 200 and "json" in answer.headers.get("content-type", ""):
                leaked = _ids(answer.json()) & a_ids
                if leaked:
                    wrong.append(f"GET {path} as B lists A's {sorted(leaked)}")
        assert not wrong, "\n".join(wrong)
        # Not a vacuous pass: the services with resources today were all walked.
        walked = {owner_of(path).name for path in templated}
        assert walked >= {"gateway", "billing", "billing_engine", "video_processing",
                          "media_processor", "recording_processor"}, walked  # fmt: skip


def _is_stream(operation: dict[str, Any]) -> bool:
    """An answer that never ends (Server-Sent Events): not a list to read whole. Its reads are
    the stream's polls, which the list walk reads as JSON."""
    content = operation.get("responses", {}).get("200", {}).get("content", {})
    return "text/event-stream" in content


async def _still_there(platform: Platform, a: Tenant, path: str, made: Made) -> list[str]:
    """A's resource after B's attempts: still readable by whoever may read it (A through the
    gateway, A's platform services, or the operator), and unchanged where B wrote."""
    url = path.format(**made.params)
    query = made.bodies.get("query")
    owner = owner_of(path).name
    answer = await platform.gateway.get(url, params=query, headers=a.headers)
    if answer.status_code == 403:
        answer = await platform.gateway.get(url, params=query, headers=platform.operator)
    if answer.status_code == 403 and owner != "gateway":
        async with platform.direct(owner) as direct:
            answer = await direct.get(
                url, params=query, headers=platform.service_headers(owner, a.id)
            )
    if answer.status_code != 200:
        return [f"A's {path} after B's attempts: {answer.status_code}"]
    if made.namespaced is not None:
        try:
            made.namespaced(answer.json())
        except AssertionError:
            return []  # A's own, as it was
        return [f"A's {path} now holds what B wrote"]
    return []


def _ids(body: Any) -> set[str]:
    if isinstance(body, dict):
        return {v for k, v in body.items() if k == "id" and isinstance(v, str)} | {
            i for v in body.values() for i in _ids(v)
        }
    if isinstance(body, list):
        return {i for v in body for i in _ids(v)}
    return set()

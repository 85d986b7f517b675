"""Conventions every service's API keeps, read off each app's OpenAPI document (all 19, so the
services still to be built are held to them by existing): a list answers one envelope,
``{"items": [...], "next_cursor": ...}`` (``kit.http.Listing``), and every operation id is
unique."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from v100.contracts.topology import SERVICES
from v100.kit.settings import PlatformSettings

SECRET = "api-conventions-test-secret-0123456789abcdef"


def _documents(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for info in SERVICES:
        module = importlib.import_module(f"v100.services.{info.name}.app")
        platform = PlatformSettings(var_dir=tmp_path / info.name, internal_token_secret=SECRET)
        app = module.create_app(module.Settings(platform=platform))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # FastAPI warns of a duplicate operation id
            yield info.name, app.openapi()


def test_every_list_answers_items_and_next_cursor(tmp_path: Path) -> None:
    wrong, lists = [], 0
    for service, document in _documents(tmp_path):
        schemas = document.get("components", {}).get("schemas", {})
        for name, schema in schemas.items():
            properties = schema.get("properties", {})
            if "next_cursor" not in properties:
                continue
            lists += 1
            if (
                set(properties) != {"items", "next_cursor"}
                or properties["items"].get("type") != "array"
            ):
                wrong.append(f"{service} {name}: {sorted(properties)}")
    assert not wrong, "lists not in the one envelope:\n" + "\n".join(wrong)
    assert lists >= 8, lists  # the lists the six working services answer today


def test_operation_ids_are_unique(tmp_path: Path) -> None:
    seen: dict[str, str] = {}
    duplicates = []
    for service, document in _documents(tmp_path):
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                key = operation.get("operationId")
                if key is None:
                    continue
                where = f"{service} {method.upper()} {path}"
                if key in seen and not seen[key].startswith(service):
                    duplicates.append(f"{key}: {seen[key]} and {where}")
                seen.setdefault(key, where)
    assert not duplicates, "\n".join(duplicates)


def _request_schemas(document: dict[str, Any]) -> set[str]:
    names = set()
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            body = operation.get("requestBody", {}).get("content", {})
            for media in body.values():
                names |= _refs(media.get("schema", {}))
    return names


def _refs(schema: dict[str, Any]) -> set[str]:
    """The component names a schema points at, directly or through anyOf / oneOf / items."""
    found = {schema["$ref"].rsplit("/", 1)[-1]} if "$ref" in schema else set()
    for alternative in (*schema.get("anyOf", ()), *schema.get("oneOf", ())):
        found |= _refs(alternative)
    if isinstance(schema.get("items"), dict):
        found |= _refs(schema["items"])
    return found


def _integers(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The integer alternatives of a property (``anyOf`` of an optional one included)."""
    if schema.get("type") == "integer":
        return [schema]
    return [alt for alt in schema.get("anyOf", []) if alt.get("type") == "integer"]


def test_every_integer_a_caller_sends_is_bounded(tmp_path: Path) -> None:
    # schemathesis found POST /v1/media/assemblies {"total_size": 685134970521667239936}
    # answering 500: the number fitted no 64-bit column. Every integer in a request body has a
    # maximum that does.
    unbounded = []
    for service, document in _documents(tmp_path):
        schemas = document.get("components", {}).get("schemas", {})
        pending, seen = list(_request_schemas(document)), set()
        while pending:
            name = pending.pop()
            if name in seen or name not in schemas:
                continue
            seen.add(name)
            for field, prop in schemas[name].get("properties", {}).items():
                for integer in _integers(prop):
                    if "enum" in integer or "const" in integer:
                        continue
                    if integer.get("maximum", 2**63) >= 2**63:
                        unbounded.append(f"{service} {name}.{field}")
                pending += _refs(prop)
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                for parameter in operation.get("parameters", []):
                    for integer in _integers(parameter.get("schema", {})):
                        if integer.get("maximum", 2**63) >= 2**63:
                            where = f"{method.upper()} {path} {parameter['name']}"
                            unbounded.append(f"{service} {where}")
    assert not unbounded, "integers without a 64-bit maximum:\n" + "\n".join(sorted(unbounded))

"""The import contracts cover every service by existing, not by being remembered: each package
under ``v100/services`` must be a container of the layers contract in ``pyproject.toml`` (api →
service → repository → models, no circles) and, by the independence contract's wildcard,
independent of the others. A new service that is not listed fails here, before its layers can
tangle (docs/services.md)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import v100.services

_ROOT = Path(__file__).resolve().parents[2]


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((_ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_every_service_is_a_container_of_the_layers_contract() -> None:
    services_dir = Path(v100.services.__file__).parent
    services = {f"v100.services.{path.parent.name}" for path in services_dir.glob("*/__init__.py")}
    layered = [contract for contract in _contracts() if contract["type"] == "layers"]
    assert len(layered) == 1, "one layers contract names every service's containers"
    containers = set(layered[0]["containers"])  # type: ignore[call-overload]
    assert len(services) >= 19
    missing = sorted(services - containers)
    assert not missing, f"services missing from the layers contract in pyproject.toml: {missing}"


def test_the_independence_contract_names_every_service_by_its_wildcard() -> None:
    independence = [
        contract["modules"] for contract in _contracts() if contract["type"] == "independence"
    ]
    assert ["v100.services.*"] in independence

"""Secrets: embedded, one is generated once per machine and shared by its processes;
distributed (PostgreSQL or Redis configured), replicas may run on several hosts that would each
generate their own and refuse each other's tokens, so an unset secret stops the start with the
variable to set."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from v100.cli import app as cli
from v100.kit.settings import MissingSecret, PlatformSettings
from v100.services.gateway.settings import GatewaySettings


def test_embedded_generates_one_secret_per_machine(tmp_path: Path) -> None:
    first = PlatformSettings(var_dir=tmp_path).resolved_internal_token_secret
    again = PlatformSettings(var_dir=tmp_path).resolved_internal_token_secret
    assert first == again
    assert len(first) >= 48
    assert (tmp_path / "internal-token.key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "distributed",
    [{"redis_url": "redis://127.0.0.1:6399/0"},
     {"database_url": "postgresql+asyncpg://v100@127.0.0.1/v100_{service}"}],
    ids=["redis", "postgresql"],
)  # fmt: skip
def test_distributed_refuses_a_generated_secret(
    tmp_path: Path, distributed: dict[str, str]
) -> None:
    platform = PlatformSettings(var_dir=tmp_path, **distributed)
    with pytest.raises(MissingSecret, match="V100_INTERNAL_TOKEN_SECRET"):
        _ = platform.resolved_internal_token_secret
    assert not (tmp_path / "internal-token.key").exists()
    gateway = GatewaySettings(platform=platform)
    with pytest.raises(MissingSecret, match="V100_GATEWAY_JWT_SECRET"):
        _ = gateway.resolved_jwt_secret
    configured = PlatformSettings(
        var_dir=tmp_path, internal_token_secret=SecretStr("s" * 48), **distributed
    )
    assert configured.resolved_internal_token_secret == "s" * 48


def test_v100_serve_says_which_variable_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("V100_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("V100_REDIS_URL", "redis://127.0.0.1:6399/0")
    monkeypatch.delenv("V100_INTERNAL_TOKEN_SECRET", raising=False)
    result = CliRunner().invoke(cli, ["serve", "billing", "--port", "0"])
    assert result.exit_code == 2, result.output
    assert "V100_INTERNAL_TOKEN_SECRET is not set" in result.output

"""Settings: the platform-wide ones every service reads (prefix ``V100_``) and the base of each
service's own small settings class (prefix ``V100_<SERVICE>_``)."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PlatformSettings", "ServiceSettings", "resolve_secret"]


class MissingSecret(ValueError):
    """A secret that must be configured: distributed, a generated one would differ per host."""


def resolve_secret(
    configured: SecretStr | None, fallback_file: Path, *, variable: str, distributed: bool
) -> str:
    """A configured secret, or, embedded, one generated once into ``fallback_file`` (mode 0600)
    so every process of the install on this machine shares it. Distributed (PostgreSQL or Redis
    configured), the processes may run on several hosts, each of which would generate its own,
    and they would refuse each other's tokens: ``variable`` must be set, or nothing starts."""
    if configured is not None:
        return configured.get_secret_value()
    if distributed:
        raise MissingSecret(
            f"{variable} is not set. With PostgreSQL or Redis configured the platform runs "
            "distributed, and every process must share this secret: set it to the same random "
            f"value (48+ characters, e.g. `python -c 'import secrets; "
            f"print(secrets.token_urlsafe(48))'`) everywhere."
        )
    if not fallback_file.exists():
        fallback_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = fallback_file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        tmp.replace(fallback_file)
    return fallback_file.read_text().strip()


class PlatformSettings(BaseSettings):
    """What all services share. Unset URLs mean the embedded defaults (SQLite, disk, in-process)."""

    model_config = SettingsConfigDict(env_prefix="V100_", extra="ignore")

    var_dir: Path = Path("var")
    # ``{service}`` and ``{var_dir}`` are substituted; on PostgreSQL each service gets its own
    # database (``postgresql+asyncpg://user@host/v100_{service}``), created by ``v100 migrate``.
    database_url: str = "sqlite+aiosqlite:///{var_dir}/{service}.db"
    # None: in-process bus, cache, rate limits and job queue (only within one process).
    redis_url: str | None = None
    # Embedded, each service runs its own cron schedules (distributed, ``v100 worker`` does);
    # False leaves them to another process, or to nobody (tests that drive the runs by hand).
    run_schedules: bool = True
    # ``file://<dir>`` for local disk, ``s3://<bucket>`` for S3 (endpoint and keys below).
    storage_url: str = "file://{var_dir}/objects"
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # HS256 secret shared by the gateway (which mints internal tokens) and every service (which
    # verifies them). Unset: generated once into ``<var_dir>/internal-token.key``.
    internal_token_secret: SecretStr | None = None
    internal_token_ttl_seconds: int = Field(default=60, ge=5, le=3600)
    # Seals secrets kept at rest (vendors' OAuth tokens: ``kit.sealing``). Unset: a key derived
    # from the internal token secret. To rotate, set a new one and move the old one to
    # ``sealing_retired_keys`` (a JSON list), which still open what they sealed.
    sealing_key: SecretStr | None = None
    sealing_retired_keys: tuple[SecretStr, ...] = ()
    # Where callers reach the platform (the gateway, or the proxy in front of it): every URL an
    # answer names (tus Location, direct-upload and signed links) starts with it. A caller's
    # Host or X-Forwarded-* never decides it.
    public_url: str = "http://127.0.0.1:4000"
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Every server's connection limits (kit.http GuardedHttpProtocol, docs/api.md "HTTP
    # limits"): a request head arrives whole within this (408 and closed), an idle keep-alive
    # connection closes after that, and past max_connections only /health and /ready are
    # served (health_headroom more connections), the rest 503.
    http_head_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    http_keep_alive_seconds: float = Field(default=5.0, gt=0, le=300)
    http_max_connections: int = Field(default=4096, ge=1)
    http_health_headroom: int = Field(default=16, ge=0)
    # The SFU (Janus's HTTP API, ``http://127.0.0.1:8088/janus``) that rooms past
    # ``V100_MEETING_SFU_THRESHOLD`` peers go through, and its ``api_secret`` (also the VideoRoom
    # plugin's ``admin_key``). Unset: rooms stay peer-to-peer whatever their size (ADR 0058).
    janus_url: str | None = None
    janus_secret: SecretStr | None = None
    log_level: str = "INFO"
    log_json: bool = True
    # Unset: logs go to stderr. ``v100 up`` on a terminal sends them here to keep its table clear.
    log_file: Path | None = None

    @property
    def distributed(self) -> bool:
        """PostgreSQL or Redis configured: processes may run on several hosts."""
        return self.redis_url is not None or self.database_url.startswith("postgresql")

    @cached_property
    def resolved_internal_token_secret(self) -> str:
        return resolve_secret(
            self.internal_token_secret,
            self.var_dir / "internal-token.key",
            variable="V100_INTERNAL_TOKEN_SECRET",
            distributed=self.distributed,
        )

    def resolved_storage_url(self) -> str:
        return self.storage_url.format(var_dir=self.var_dir)


class ServiceSettings(BaseSettings):
    """Base of a service's settings. Subclasses set ``service``, ``port`` and their own prefix:

    class BillingSettings(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix="V100_BILLING_", extra="ignore")
        service: ClassVar[str] = "billing"
        port: int = 8085
    """

    model_config = SettingsConfigDict(extra="ignore")

    service: ClassVar[str]
    host: str = "127.0.0.1"
    port: int = 0
    # Overrides the platform's database URL for this one service.
    database_url: str | None = None
    platform: PlatformSettings = Field(default_factory=PlatformSettings)

    @property
    def resolved_database_url(self) -> str:
        url = self.database_url or self.platform.database_url
        return url.format(service=self.service, var_dir=self.platform.var_dir)

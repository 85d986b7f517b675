"""The gateway's own settings (prefix ``V100_GATEWAY_``)."""

import secrets
from functools import cached_property
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_GATEWAY_", extra="ignore")
    service: ClassVar[str] = "gateway"
    port: int = 4000

    # --- identity: users, sessions, API keys -----------------------------------------------
    # HS256 secret of user access tokens; deliberately not the internal-token secret, so the
    # two kinds of token can never stand in for each other. Unset: generated once into
    # ``<var_dir>/gateway-jwt.key``.
    jwt_secret: SecretStr | None = None
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=300, le=365 * 86_400)
    # How long a resolved API key is trusted in-process before it is read again; a revocation
    # on this replica applies at once, on another replica within this many seconds.
    api_key_cache_seconds: float = Field(default=30.0, ge=0, le=300)
    # Argon2id cost (RFC 9106's second recommended option by default). Raising them rehashes
    # each password at its owner's next login.
    password_time_cost: int = Field(default=3, ge=1, le=20)
    password_memory_kib: int = Field(default=64 * 1024, ge=8, le=4 * 1024 * 1024)
    password_parallelism: int = Field(default=4, ge=1, le=64)

    # --- routing: the other services behind the gateway ------------------------------------
    # Base URL per service name, over the topology's http://127.0.0.1:<port>, e.g.
    # V100_GATEWAY_UPSTREAMS='{"billing": "http://10.0.0.5:8085"}'.
    upstreams: dict[str, str] = Field(default_factory=dict)
    upstream_connect_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    # Longest silence while waiting for an upstream's answer or its next bytes (not a cap on
    # the whole answer: downloads and event streams go on while bytes keep coming).
    upstream_read_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    upstream_max_connections: int = Field(default=256, ge=1, le=10_000)
    # Below uvicorn's 5 s keep-alive, so an idle connection is dropped here before the
    # upstream closes it under a new request.
    upstream_keepalive_seconds: float = Field(default=4.0, ge=0, le=300)
    # Proxied bodies are limited by the service that reads them (uploads are large), not by the
    # platform's JSON-sized default.
    proxied_max_body_bytes: int = Field(default=5 * 1024**3, ge=1024)
    websocket_max_message_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    openapi_cache_seconds: float = Field(default=10.0, ge=0, le=3600)
    status_timeout_seconds: float = Field(default=2.0, gt=0, le=60)

    @cached_property
    def resolved_jwt_secret(self) -> str:
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        path = self.platform.var_dir / "gateway-jwt.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            tmp.replace(path)
        return path.read_text().strip()

"""The identity room's settings: users, sessions, API keys, passwords and the sign-in limits.
Read from the gateway's flat variables (``V100_GATEWAY_JWT_SECRET`` ...) and composed into
``GatewaySettings.identity``."""

from typing import Protocol

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["IdentityConfig", "IdentitySettings"]


class IdentitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="V100_GATEWAY_", extra="ignore")

    # --- identity: users, sessions, API keys -----------------------------------------------
    # HS256 secret of user access tokens; deliberately not the internal-token secret, so the
    # two kinds of token can never stand in for each other. Unset: generated once into
    # ``<var_dir>/gateway-jwt.key`` (``GatewaySettings.resolved_jwt_secret``).
    jwt_secret: SecretStr | None = None
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=300, le=365 * 86_400)
    # How long a resolved API key, and a signed-in member's standing (still a member, enabled,
    # which role), are trusted in-process before they are read again: a revocation, removal,
    # disabling or demotion on this replica applies at once, on another within this many
    # seconds (standing.py).
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    member_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    # Password and refresh-token routes (auth_throttle.py): per client address, and for logins
    # per account; over them 429 with Retry-After.
    login_per_address_per_minute: int = Field(default=60, ge=1)
    login_per_account_per_minute: int = Field(default=10, ge=1)
    signup_per_address_per_hour: int = Field(default=20, ge=1)
    refresh_per_address_per_minute: int = Field(default=120, ge=1)
    # Password hashes waiting for a worker beyond this many are refused at once (503 with
    # Retry-After) rather than making every login wait.
    password_max_waiting: int = Field(default=32, ge=1)
    # Argon2id cost (RFC 9106's second recommended option by default). Raising them rehashes
    # each password at its owner's next login.
    password_time_cost: int = Field(default=3, ge=1, le=20)
    password_memory_kib: int = Field(default=64 * 1024, ge=8, le=4 * 1024 * 1024)
    password_parallelism: int = Field(default=4, ge=1, le=64)


class IdentityConfig(Protocol):
    """What identity's parts read: their own section, the signing secret of access tokens as
    resolved for this installation, and the gateway's database (the gateway's settings are
    one; identity never imports them, nor anything of the edge)."""

    @property
    def identity(self) -> IdentitySettings: ...

    @property
    def resolved_jwt_secret(self) -> str: ...

    @property
    def resolved_database_url(self) -> str: ...

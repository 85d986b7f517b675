"""The gateway's settings (prefix ``V100_GATEWAY_``): one section per room, ``identity``
(identity/settings.py) and ``edge`` (edge/settings.py), composed here. Every variable keeps its
flat name (``V100_GATEWAY_JWT_SECRET``, ``V100_GATEWAY_UPSTREAMS``, ``V100_GATEWAY_RATE_LIMITS``
...), and so does every keyword: ``GatewaySettings(jwt_secret=..., upstreams=...)`` fills the
section that owns the field."""

from collections.abc import Mapping
from functools import cached_property
from typing import Any, ClassVar, Self

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from v100.kit.settings import ServiceSettings, resolve_secret
from v100.services.gateway.edge.settings import EdgeSettings
from v100.services.gateway.identity.settings import IdentitySettings

__all__ = ["GatewaySettings"]

_SECTIONS: dict[str, type[BaseSettings]] = {"identity": IdentitySettings, "edge": EdgeSettings}


class _SectionsFromEnvironment(PydanticBaseSettingsSource):
    """Each section's fields from their flat variables, as ``{"identity": {...}, "edge": {...}}``
    (only the variables that are set, so defaults stay the sections' own)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads whole sections

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, section in _SECTIONS.items():
            found = EnvSettingsSource(section)()
            if found:
                values[name] = found
        return values


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_GATEWAY_", extra="ignore")
    service: ClassVar[str] = "gateway"
    port: int = 4000

    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    edge: EdgeSettings = Field(default_factory=EdgeSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _SectionsFromEnvironment(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    @model_validator(mode="before")
    @classmethod
    def _flat_names_to_sections(cls, data: Any) -> Any:
        """``jwt_secret=...`` (a keyword) goes to ``identity``, ``upstreams=...`` to ``edge``;
        given both ways, the flat keyword wins over the section's variable."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, section in _SECTIONS.items():
            flat = {key: data.pop(key) for key in list(data) if key in section.model_fields}
            if not flat:
                continue
            given = data.get(name)
            if isinstance(given, BaseSettings):
                given = given.model_dump(exclude_unset=True)
            data[name] = {**(given or {}), **flat}
        return data

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """As pydantic's, with flat names in ``update`` going to their section, as keywords do
        (``model_copy(update={"api_key_cache_seconds": 1})`` changes ``identity``)."""
        if update:
            update = dict(update)
            for name, section in _SECTIONS.items():
                flat = {key: update.pop(key) for key in list(update) if key in section.model_fields}
                if flat:
                    current = update.get(name, getattr(self, name))
                    update[name] = current.model_copy(update=flat, deep=deep)
        return super().model_copy(update=update, deep=deep)

    @cached_property
    def resolved_jwt_secret(self) -> str:
        return resolve_secret(
            self.identity.jwt_secret,
            self.platform.var_dir / "gateway-jwt.key",
            variable="V100_GATEWAY_JWT_SECRET",
            distributed=self.platform.distributed
            or self.resolved_database_url.startswith("postgresql"),
        )

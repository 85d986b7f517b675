"""integration's own settings (prefix ``V100_INTEGRATION_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class IntegrationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_INTEGRATION_", extra="ignore")
    service: ClassVar[str] = "integration"
    port: int = 3009

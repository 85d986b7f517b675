"""The gateway's own settings (prefix ``V100_GATEWAY_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_GATEWAY_", extra="ignore")
    service: ClassVar[str] = "gateway"
    port: int = 4000

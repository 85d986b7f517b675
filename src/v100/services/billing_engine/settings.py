"""billing_engine's own settings (prefix ``V100_BILLING_ENGINE_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class BillingEngineSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_BILLING_ENGINE_", extra="ignore")
    service: ClassVar[str] = "billing_engine"
    port: int = 8086

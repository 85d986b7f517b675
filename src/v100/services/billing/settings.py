"""billing's own settings (prefix ``V100_BILLING_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_BILLING_", extra="ignore")
    service: ClassVar[str] = "billing"
    port: int = 8085

"""scheduling's own settings (prefix ``V100_SCHEDULING_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class SchedulingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_SCHEDULING_", extra="ignore")
    service: ClassVar[str] = "scheduling"
    port: int = 3006

"""realtime's own settings (prefix ``V100_REALTIME_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class RealtimeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_REALTIME_", extra="ignore")
    service: ClassVar[str] = "realtime"
    port: int = 3014

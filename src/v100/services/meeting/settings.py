"""meeting's own settings (prefix ``V100_MEETING_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class MeetingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_MEETING_", extra="ignore")
    service: ClassVar[str] = "meeting"
    port: int = 3005

"""meeting_signaling's own settings (prefix ``V100_MEETING_SIGNALING_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class MeetingSignalingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_MEETING_SIGNALING_", extra="ignore")
    service: ClassVar[str] = "meeting_signaling"
    port: int = 3015

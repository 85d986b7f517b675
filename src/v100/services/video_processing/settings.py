"""video_processing's own settings (prefix ``V100_VIDEO_PROCESSING_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class VideoProcessingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_VIDEO_PROCESSING_", extra="ignore")
    service: ClassVar[str] = "video_processing"
    port: int = 3002

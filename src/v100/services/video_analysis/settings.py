"""video_analysis's own settings (prefix ``V100_VIDEO_ANALYSIS_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class VideoAnalysisSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_VIDEO_ANALYSIS_", extra="ignore")
    service: ClassVar[str] = "video_analysis"
    port: int = 3020

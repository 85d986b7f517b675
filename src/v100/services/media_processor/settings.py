"""media_processor's own settings (prefix ``V100_MEDIA_PROCESSOR_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class MediaProcessorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_MEDIA_PROCESSOR_", extra="ignore")
    service: ClassVar[str] = "media_processor"
    port: int = 3013

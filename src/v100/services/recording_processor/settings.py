"""recording_processor's own settings (prefix ``V100_RECORDING_PROCESSOR_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class RecordingProcessorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_RECORDING_PROCESSOR_", extra="ignore")
    service: ClassVar[str] = "recording_processor"
    port: int = 3012

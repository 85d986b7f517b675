"""transcription's own settings (prefix ``V100_TRANSCRIPTION_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class TranscriptionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_TRANSCRIPTION_", extra="ignore")
    service: ClassVar[str] = "transcription"
    port: int = 3003

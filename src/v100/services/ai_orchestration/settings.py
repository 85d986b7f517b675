"""ai_orchestration's own settings (prefix ``V100_AI_ORCHESTRATION_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class AiOrchestrationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_AI_ORCHESTRATION_", extra="ignore")
    service: ClassVar[str] = "ai_orchestration"
    port: int = 3001

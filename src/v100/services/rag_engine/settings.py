"""rag_engine's own settings (prefix ``V100_RAG_ENGINE_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class RagEngineSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_RAG_ENGINE_", extra="ignore")
    service: ClassVar[str] = "rag_engine"
    port: int = 3011

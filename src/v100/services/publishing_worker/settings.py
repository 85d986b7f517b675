"""publishing_worker's own settings (prefix ``V100_PUBLISHING_WORKER_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class PublishingWorkerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_PUBLISHING_WORKER_", extra="ignore")
    service: ClassVar[str] = "publishing_worker"
    port: int = 3026

"""social_publisher's own settings (prefix ``V100_SOCIAL_PUBLISHER_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class SocialPublisherSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_SOCIAL_PUBLISHER_", extra="ignore")
    service: ClassVar[str] = "social_publisher"
    port: int = 3025

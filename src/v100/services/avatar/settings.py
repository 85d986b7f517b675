"""avatar's own settings (prefix ``V100_AVATAR_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class AvatarSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_AVATAR_", extra="ignore")
    service: ClassVar[str] = "avatar"
    port: int = 3004

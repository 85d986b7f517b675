"""stream_proxy's own settings (prefix ``V100_STREAM_PROXY_``)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from v100.kit.settings import ServiceSettings


class StreamProxySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_STREAM_PROXY_", extra="ignore")
    service: ClassVar[str] = "stream_proxy"
    port: int = 3016

"""stream_proxy's own settings (prefix ``V100_STREAM_PROXY_``)."""

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from v100.contracts.topology import service_info
from v100.kit.settings import ServiceSettings


class StreamProxySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_STREAM_PROXY_", extra="ignore")
    service: ClassVar[str] = "stream_proxy"
    port: int = 3016

    # Where video_processing is: where a ready video's HLS lies is asked of it
    # (contracts/videos.py); the objects are then read from the platform's store.
    video_processing_url: str = service_info("video_processing").url
    # URLs handed out start with this (default: the platform's V100_PUBLIC_URL).
    public_base_url: str | None = None
    # A playback URL lives this long unless the request asks otherwise, and never longer
    # than the maximum.
    playback_default_seconds: int = Field(default=6 * 3600, ge=10, le=7 * 24 * 3600)
    playback_max_seconds: int = Field(default=7 * 24 * 3600, ge=10, le=30 * 24 * 3600)
    # How long a video's answer from video_processing (where its ladder lies, that it still
    # exists) is reused by this process: a deleted video stops playing within this time.
    video_check_seconds: float = Field(default=10.0, ge=0.0, le=600.0)
    # Origins a browser may play /hls/ from (CORS). "*" by default: playback URLs are signed,
    # so the URL is the credential, and players live on the tenants' own sites.
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    # Cache lifetimes (docs/stream-proxy.md "Caching"): a finished video's playlists may be
    # rewritten (a caption track added), segments never change.
    playlist_max_age: int = Field(default=60, ge=0, le=86400)
    segment_max_age: int = Field(default=365 * 24 * 3600, ge=0, le=10 * 365 * 24 * 3600)

    # Media routes: networks a backend may be on although they are not public (a self-hoster's
    # own media servers; loopback in tests). Empty: public addresses only.
    backend_allow_cidrs: list[str] = Field(default_factory=list)
    # Test rigs only: refuse every backend outside loopback, so no health check or proxied
    # request can leave the machine whatever URL a route names.
    backends_loopback_only: bool = False
    # A backend's health check gives up after this long; a backend is down after this many
    # failed checks in a row, and up again after one good one.
    health_timeout_seconds: float = Field(default=2.0, gt=0, le=60.0)
    health_failures_to_down: int = Field(default=2, ge=1, le=100)
    # Shortest interval a route may ask for between checks.
    health_min_interval_seconds: float = Field(default=1.0, gt=0, le=3600.0)
    # A proxied request's connect timeout and longest wait for the next bytes.
    proxy_connect_seconds: float = Field(default=3.0, gt=0, le=60.0)
    proxy_read_seconds: float = Field(default=30.0, gt=0, le=600.0)
    # Seconds a client is told to wait (Retry-After) when every backend of a route is down.
    retry_after_seconds: int = Field(default=5, ge=1, le=3600)

    @property
    def public_base(self) -> str:
        return (self.public_base_url or self.platform.public_url).rstrip("/")

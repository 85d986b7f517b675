"""video_processing's own settings (prefix ``V100_VIDEO_PROCESSING_``)."""

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from v100.contracts.topology import service_info
from v100.kit.settings import ServiceSettings


class VideoProcessingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_VIDEO_PROCESSING_", extra="ignore")
    service: ClassVar[str] = "video_processing"
    port: int = 3002

    # The public URL callers reach this service at, for the URLs it hands out: direct-upload
    # tus endpoints, playback and downloads. Unset: the platform's V100_PUBLIC_URL (never the
    # request's Host or X-Forwarded-*).
    public_base_url: str | None = None

    @property
    def public_base(self) -> str:
        return (self.public_base_url or self.platform.public_url).rstrip("/")

    # Largest upload accepted (tus Upload-Length) and largest URL import.
    max_upload_bytes: int = Field(default=50 * 1024**3, ge=1)
    # Bytes one tus PATCH may carry (clients send larger files in several).
    max_chunk_bytes: int = Field(default=1024**3, ge=1024)
    # A direct upload's URL works this long (Mux's ``timeout``, default one hour).
    direct_upload_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # Networks an import (``input_url``) may reach although they are not public, e.g. a
    # self-hoster's own media server ("10.20.0.0/16"); loopback only in tests.
    import_allow_cidrs: list[str] = Field(default_factory=list)
    # Signed playback and download URLs live this long.
    playback_url_seconds: int = Field(default=6 * 3600, ge=60, le=7 * 24 * 3600)
    # Sources larger than this (in either dimension, after rotation) are refused: decoding
    # them would take minutes and gigabytes for a ladder that tops out at 1080p anyway.
    max_source_width: int = Field(default=7680, ge=16)
    max_source_height: int = Field(default=4320, ge=16)
    max_source_seconds: float = Field(default=6 * 3600.0, gt=0)
    hls_segment_seconds: float = Field(default=4.0, gt=0)
    # Billing: credits held per started minute of output, through billing's internal API.
    billing_url: str = service_info("billing").url
    credits_per_minute: int = Field(default=1, ge=0)
    # Clips are charged the same way, per started minute of the clip's output (both modes:
    # docs/video.md says why a fast clip costs what an accurate one does).
    clip_credits_per_minute: int = Field(default=1, ge=0)
    # Without billing (0 credits per minute for both, or this off) nothing is charged.
    billing_enabled: bool = True
    # The processing job's limits (tasks.py declares them: 3 attempts of at most 6 h); the
    # credit hold is made to outlive them all.
    processing_timeout_seconds: float = Field(default=6 * 3600.0, gt=0)
    processing_attempts: int = Field(default=3, ge=1)
    # The same for the clip job (tasks.py: 3 attempts of at most 1 h).
    clip_timeout_seconds: float = Field(default=3600.0, gt=0)
    clip_attempts: int = Field(default=3, ge=1)
    # x264's preset for smart clips (``media.clip_render``; an analysis's highlights, ADR 0060).
    clip_preset: str = Field(default="veryfast", pattern=r"^[a-z]+$")
    # A job whose runner stops heartbeating this long is run again (a killed worker). Every
    # process of a deployment must use the same value; the runner heartbeats 4 times per lease.
    job_lease_seconds: float = Field(default=60.0, ge=1.0, le=3600.0)

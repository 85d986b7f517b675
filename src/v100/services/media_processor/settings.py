"""media_processor's own settings (prefix ``V100_MEDIA_PROCESSOR_``)."""

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from v100.contracts.topology import service_info
from v100.kit.settings import ServiceSettings
from v100.kit.storage import MAX_EXPIRES_IN, MAX_PART_SIZE, MIN_PART_SIZE

MiB = 1024 * 1024


class MediaProcessorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="V100_MEDIA_PROCESSOR_", extra="ignore")
    service: ClassVar[str] = "media_processor"
    port: int = 3013

    # The largest input one PUT /v1/media/inputs/{name} takes (413 beyond, while streaming).
    max_input_bytes: int = Field(default=5 * 1024 * MiB, ge=1)
    # The largest part of a chunk assembly (every part but the last is at least 5 MiB: the
    # object store's multipart rule, applied on local disk too).
    max_part_bytes: int = Field(default=256 * MiB, ge=MIN_PART_SIZE, le=MAX_PART_SIZE)
    # An assembly not completed this long after its creation expires: the periodic sweep
    # (tasks.expire_assemblies) drops its stored parts, and its PUTs and completion answer 410.
    assembly_ttl_seconds: int = Field(default=24 * 3600, ge=1, le=30 * 24 * 3600)
    # How long presigned download links stay valid.
    download_url_seconds: int = Field(default=3600, ge=60, le=MAX_EXPIRES_IN)
    # Inputs larger than this picture (either side, after rotation) or longer are refused.
    max_source_width: int = Field(default=7680, ge=16)
    max_source_height: int = Field(default=4320, ge=16)
    max_source_seconds: float = Field(default=6 * 3600.0, gt=0)
    # Billing: transcodes hold credits per started minute of output (docs/media-processor.md).
    billing_url: str = service_info("billing").url
    credits_per_minute: int = Field(default=1, ge=0)
    billing_enabled: bool = True
    # Language detection of an audio or video input decodes at most this many seconds from
    # its start (Whisper's detector reads the first 30 s of the speech found in them).
    language_detection_seconds: float = Field(default=120.0, ge=30.0, le=3600.0)
    # Where the Whisper weights are joined from their packages (default ``<var_dir>/models``).
    whisper_model_dir: Path | None = None
    # A job whose runner stops heartbeating this long is run again (a killed worker).
    job_lease_seconds: float = Field(default=60.0, ge=1.0, le=3600.0)
